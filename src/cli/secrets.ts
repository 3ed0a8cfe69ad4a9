import { WebhookError } from '../errors.ts'
import { shown } from '../text.ts'
import { withApi } from './api.ts'
import type { Command, Io } from './io.ts'
import { actionError, CommandError, parse, printJson, required, UsageError } from './io.ts'
import { reencryptCommand } from './secrets-reencrypt.ts'

const usage = `imtegrate-webhooks secrets <create|rotate> --org ORG [--force] [--json]
       imtegrate-webhooks secrets reencrypt [--json]

  create   make the org's render-webhook secret, which signs deliveries to renders' own
           webhook_url; it is printed once and cannot be shown again
  rotate   replace it; the old secret keeps signing beside the new one (webhook-signature)
           for WEBHOOK_SECRET_ROTATION_GRACE (default 24h). Refused while the secret a rotation
           replaced still signs, unless --force, which retires it at once
  reencrypt  re-seal every stored org and endpoint secret under WEBHOOK_SECRETS_KEY after a
           key rotation (see docs/secrets.md)`

export const secretsCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action === 'reencrypt') {
      return reencryptCommand.run(rest, io)
    }
    if (action !== 'create' && action !== 'rotate') {
      throw actionError(action)
    }
    const { values } = parse(rest, {
      org: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    })
    if (values.force === true && action !== 'rotate') {
      throw new UsageError('--force applies to rotate only')
    }
    const orgId = required(values.org, '--org')
    const { secret } = await withApi(io, async ({ api }) => {
      try {
        return action === 'create'
          ? await api.createOrgSecret(orgId)
          : await api.rotateOrgSecret(orgId, { force: values.force === true })
      } catch (error) {
        throw withHint(error, orgId)
      }
    })
    printSecret(io, values.json === true, { org_id: orgId, secret })
  },
}

/** The API's refusals, with the command that goes ahead. */
function withHint(error: unknown, orgId: string): unknown {
  const code = error instanceof WebhookError ? error.code : undefined
  const org = shown(orgId)
  const hints: Partial<Record<string, string>> = {
    SECRET_EXISTS: `org ${org} already has a secret; use \`secrets rotate --org ${org}\``,
    NOT_FOUND: `org ${org} has no secret yet; use \`secrets create --org ${org}\``,
  }
  const hint = code === undefined ? undefined : hints[code]
  return hint === undefined ? error : new CommandError(hint, { cause: error })
}

export function printSecret(io: Io, json: boolean, fields: Record<string, string>): void {
  if (json) {
    printJson(io, fields)
    return
  }
  for (const [key, value] of Object.entries(fields)) {
    io.out(`${key}: ${value}`)
  }
  io.err('Store the secret now: it is shown only this once.')
}
