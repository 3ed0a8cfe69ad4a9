import { z } from 'zod'
import { OrgId, Time } from './common.ts'

export const OrgSecret = z
  .object({
    org_id: OrgId,
    created_at: Time,
    rotated_at: Time.nullable(),
    previous_secret_expires_at: Time.nullable(),
  })
  .meta({ id: 'OrgSecret', description: "the org's render-webhook secret, without the secret" })

export const OrgSecretCreated = z
  .object({ org_id: OrgId, secret: z.string().meta({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }) })
  .meta({ id: 'OrgSecretCreated' })

export const RotateOrgSecretInput = z.object({
  force: z.boolean().optional().meta({
    description: 'rotate even while the secret the last rotation replaced still signs (retiring it at once)',
  }),
})
