import { generateSecret } from '../delivery/sign.ts'
import { createOrgSecret, rotateOrgSecret } from '../store/secrets.ts'
import { withContext } from './context.ts'
import type { Command, Io } from './io.ts'
import { asUsageError, CommandError, parse, printJson, required, UsageError } from './io.ts'
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
      throw new UsageError(action === undefined ? 'missing action' : `unknown action: ${action}`)
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
    const secret = generateSecret()
    await withContext(io, async ({ db, box, config }) => {
      if (action === 'create') {
        const created = await createOrgSecret(db, orgId, box.seal(secret)).catch((error: unknown) => {
          throw asUsageError(error)
        })
        if (!created) {
          throw new CommandError(`org ${orgId} already has a secret; use \`secrets rotate --org ${orgId}\``)
        }
      } else {
        const rotation = await rotateOrgSecret(
          db,
          orgId,
          box.seal(secret),
          config.rotationGraceMs,
          values.force,
        )
        if (rotation.result === 'missing') {
          throw new CommandError(`org ${orgId} has no secret yet; use \`secrets create --org ${orgId}\``)
        }
        if (rotation.result === 'signing') {
          throw new CommandError(stillSigning(`org ${orgId}`, rotation.until))
        }
      }
    })
    printSecret(io, values.json === true, { org_id: orgId, secret })
  },
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

/** Why a second rotation is refused, and how to go ahead anyway. */
export function stillSigning(whose: string, until: Date): string {
  return `the secret ${whose} had before its last rotation still signs until ${until.toISOString()}; rotating again now would retire it at once, failing receivers that have not switched yet. Wait until then, or pass --force`
}
