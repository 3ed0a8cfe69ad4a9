import { z } from 'zod'
import { OrgId, PageInput, ResourceId, Time, TimeInput } from './common.ts'

export const Recovery = z
  .object({
    id: z.string().meta({ example: 'rcv_0193f1d2a4b5c6d7e8f90a1b2c' }),
    org_id: OrgId,
    endpoint_id: z.string(),
    since: Time,
    until: Time.meta({ description: 'when it was started: deliveries made later are not its business' }),
    status: z.enum(['queued', 'running', 'completed']),
    total: z.number().int().meta({ description: 'dropped deliveries matched when it was started' }),
    processed: z.number().int(),
    replayed: z.number().int(),
    skipped: z.number().int().meta({ description: 'pending again already, or no longer replayable' }),
    created_at: Time,
    updated_at: Time,
    finished_at: Time.nullable(),
  })
  .meta({ id: 'Recovery' })

export const RecoverInput = z.object({ endpoint_id: ResourceId, since: TimeInput })

export const RecoverableCount = z
  .object({ endpoint_id: z.string(), since: Time, count: z.number().int() })
  .meta({ id: 'RecoverableCount' })

export const RecoveryRef = z.object({ recovery_id: ResourceId })

export const ListRecoveriesInput = z.object(PageInput)
