import { issueApiKey } from '../api/api-keys.ts'
import { listApiKeys, revokeApiKey } from '../store/api-keys.ts'
import { characters, shown } from '../text.ts'
import { withContext } from './context.ts'
import type { Command, Io } from './io.ts'
import { actionError, CommandError, parse, printJson, printTable, required, UsageError } from './io.ts'

const usage = `imtegrate-webhooks api-keys <create|list|revoke> [options]

  create --name NAME [--json]
      a key for the HTTP API (imtegrate-webhooks serve), for the render service's backend.
      It is printed once: only a hash of it is kept
  list [--json]
      every key (id, name, created, revoked), never the keys themselves
  revoke KEY_ID [--json]
      the key stops working at once`

export const apiKeysCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action === 'create') {
      return create(rest, io)
    }
    if (action === 'list') {
      return list(rest, io)
    }
    if (action === 'revoke') {
      return revoke(rest, io)
    }
    throw actionError(action)
  },
}

async function create(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { name: { type: 'string' }, json: { type: 'boolean' } })
  const name = required(values.name, '--name').trim()
  if (name === '' || characters(name) > 200) {
    throw new UsageError('--name must be 1 to 200 characters')
  }
  const issued = await withContext(io, ({ db }) => issueApiKey(db, name))
  if (values.json === true) {
    printJson(io, issued)
    return
  }
  io.out(`id: ${issued.id}\nname: ${issued.name}\nkey: ${issued.key}`)
  io.err('Store the key now: it is shown only this once.')
}

async function list(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { json: { type: 'boolean' } })
  const keys = await withContext(io, ({ db }) => listApiKeys(db))
  if (values.json === true) {
    printJson(io, keys)
    return
  }
  printTable(io, keys, ['id', 'name', 'created_at', 'revoked_at'])
}

async function revoke(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1)
  const [id] = positionals
  if (id === undefined) {
    throw new UsageError('missing key id (key_…)')
  }
  const result = await withContext(io, ({ db }) => revokeApiKey(db, id))
  if (result === 'missing') {
    throw new CommandError(`no API key ${shown(id)}`)
  }
  if (values.json === true) {
    printJson(io, { id, revoked: true })
    return
  }
  io.out(result === 'already' ? `${id} was already revoked` : `revoked ${id}`)
}
