import { z } from 'zod'
import { generateSecret } from '../delivery/sign.ts'
import { WebhookError } from '../errors.ts'
import { stillSigning } from './endpoint-operations.ts'
import { found, notFound, operation } from './operation.ts'
import { time } from './schemas/common.ts'
import { RevealedSecret, RotatedSecret } from './schemas/endpoints.ts'
import { OrgSecret, OrgSecretCreated, RotateOrgSecretInput } from './schemas/secrets.ts'

const NoInput = z.object({})

// The org's render-webhook secret: it signs deliveries to renders' own webhook_url.

export const secretOperations = {
  getOrgSecret: operation({
    summary: 'Whether the org has a render-webhook secret, and when it was made and rotated (not the secret)',
    input: NoInput,
    output: OrgSecret,
    async run(ctx) {
      const row = found(await ctx.store.secret.find(), 'render-webhook secret')
      return {
        org_id: ctx.store.org,
        created_at: time(row.created_at),
        rotated_at: time(row.rotated_at),
        previous_secret_expires_at: time(row.previous_secret_expires_at),
      }
    },
  }),

  createOrgSecret: operation({
    summary: "Make the org's render-webhook secret; it is in this answer only",
    input: NoInput,
    output: OrgSecretCreated,
    async run(ctx) {
      const secret = generateSecret()
      if (!(await ctx.store.secret.create(ctx.box.seal(secret)))) {
        throw new WebhookError(
          'SECRET_EXISTS',
          `org ${ctx.store.org} already has a render-webhook secret; rotate it`,
        )
      }
      return { org_id: ctx.store.org, secret }
    },
  }),

  rotateOrgSecret: operation({
    summary:
      "Replace the org's render-webhook secret; the old one keeps signing beside it for the grace period",
    input: RotateOrgSecretInput,
    output: RotatedSecret,
    async run(ctx, input) {
      const secret = generateSecret()
      const rotation = await ctx.store.secret.rotate(
        ctx.box.seal(secret),
        ctx.rotationGraceMs,
        input.force === true,
      )
      if (rotation.result === 'missing') {
        throw notFound('render-webhook secret')
      }
      if (rotation.result === 'signing') {
        throw stillSigning(`org ${ctx.store.org}`, rotation.until)
      }
      const row = found(await ctx.store.secret.find(), 'render-webhook secret')
      return { secret, previous_secret_expires_at: time(row.previous_secret_expires_at) }
    },
  }),

  revealOrgSecret: operation({
    summary: "The org's current render-webhook secret",
    input: NoInput,
    output: RevealedSecret,
    async run(ctx) {
      const row = found(await ctx.store.secret.find(), 'render-webhook secret')
      return { secret: ctx.box.open(row.secret) }
    },
  }),
}
