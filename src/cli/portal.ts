import { withApi } from './api.ts'
import type { Command, Io } from './io.ts'
import { actionError, parse, printJson, printTable, required, UsageError } from './io.ts'

const usage = `imtegrate-webhooks portal <link|sessions|revoke> [options]

  link --org ORG [--ttl DURATION] [--session-ttl DURATION]
       [--read-only | --capability CAP ...] [--json]
      a single-use link to the webhook portal for ORG, printed once. It can be opened
      once within --ttl (1m-1h, default 10m) and opens a session of --session-ttl
      (1m-1h, default 1h). CAP: manage_endpoints, replay, view_secrets (repeat it);
      --read-only: none of them; neither: all of them. The link starts with
      WEBHOOK_PORTAL_URL (else http://WEBHOOK_API_HOST:WEBHOOK_API_PORT)
  sessions --org ORG [--json]
      the org's portal sessions that are open now
  revoke --org ORG (SESSION_ID | --all) [--json]
      end one session, or every session of the org and its links not opened yet`

export const portalCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action === 'link') {
      return link(rest, io)
    }
    if (action === 'sessions') {
      return sessions(rest, io)
    }
    if (action === 'revoke') {
      return revoke(rest, io)
    }
    throw actionError(action)
  },
}

async function link(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    org: { type: 'string' },
    ttl: { type: 'string' },
    'session-ttl': { type: 'string' },
    'read-only': { type: 'boolean' },
    capability: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  })
  const org = required(values.org, '--org')
  if (values['read-only'] === true && values.capability !== undefined) {
    throw new UsageError('--read-only and --capability exclude each other')
  }
  const capabilities = values['read-only'] === true ? [] : values.capability
  const made = await withApi(io, ({ api }) =>
    api.createPortalLink(org, {
      ...(values.ttl === undefined ? {} : { ttl: values.ttl }),
      ...(values['session-ttl'] === undefined ? {} : { session_ttl: values['session-ttl'] }),
      ...(capabilities === undefined ? {} : { capabilities: capabilities as never }),
    }),
  )
  if (values.json === true) {
    printJson(io, made)
    return
  }
  io.out(made.url)
  io.err(
    `Opens once, until ${made.expires_at}, a session of ${made.session_ttl_seconds / 60} min that can ${
      made.capabilities.length === 0 ? 'only look (read-only)' : made.capabilities.join(', ')
    }.`,
  )
}

async function sessions(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { org: { type: 'string' }, json: { type: 'boolean' } })
  const org = required(values.org, '--org')
  const list = await withApi(io, ({ api }) => api.listPortalSessions(org))
  if (values.json === true) {
    printJson(io, list.data)
    return
  }
  printTable(
    io,
    list.data.map((s) => ({ ...s, capabilities: s.capabilities.join(',') || 'read-only' })),
    ['id', 'capabilities', 'created_at', 'expires_at'],
  )
}

async function revoke(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(
    args,
    { org: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } },
    1,
  )
  const org = required(values.org, '--org')
  const [id] = positionals
  if ((id === undefined) === (values.all !== true)) {
    throw new UsageError('name one session (ps_…) or --all')
  }
  const result = await withApi(io, ({ api }) =>
    id === undefined ? api.revokePortalSessions(org) : api.revokePortalSession(org, { session_id: id }),
  )
  if (values.json === true) {
    printJson(io, result)
    return
  }
  io.out(id === undefined ? `revoked ${result.revoked} session(s) of ${org}` : `revoked ${id}`)
}
