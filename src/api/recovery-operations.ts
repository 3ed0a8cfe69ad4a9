import type { z } from 'zod'
import { z as zod } from 'zod'
import type { Recovery as RecoveryRow } from '../store/recoveries.ts'
import { keysetPage } from './cursor.ts'
import { inactive } from './endpoint-operations.ts'
import { found, operation } from './operation.ts'
import { Page, time } from './schemas/common.ts'
import {
  ListRecoveriesInput,
  RecoverableCount,
  RecoverInput,
  Recovery,
  RecoveryRef,
} from './schemas/recoveries.ts'

function toRecovery(row: RecoveryRow): z.input<typeof Recovery> {
  return {
    id: row.id,
    org_id: row.org_id,
    endpoint_id: row.endpoint_id,
    since: time(row.since),
    until: time(row.until),
    status: row.status,
    total: row.total,
    processed: row.processed,
    replayed: row.replayed,
    skipped: row.skipped,
    created_at: time(row.created_at),
    updated_at: time(row.updated_at),
    finished_at: time(row.finished_at),
  }
}

export const recoveryOperations = {
  countRecoverable: operation({
    summary: "How many of an endpoint's dropped deliveries made since a time a recovery would replay now",
    input: RecoverInput,
    output: RecoverableCount,
    async run(ctx, input) {
      const since = new Date(input.since)
      const count = found(
        await ctx.store.recoveries.count(input.endpoint_id, since),
        'endpoint',
        input.endpoint_id,
      )
      return { endpoint_id: input.endpoint_id, since: time(since), count }
    },
  }),

  startRecovery: operation({
    summary: "Replay an endpoint's dropped deliveries made since a time, as a background job; safe to repeat",
    input: RecoverInput,
    output: Recovery,
    async run(ctx, input) {
      const run = found(
        await ctx.store.recoveries.create(input.endpoint_id, new Date(input.since)),
        'endpoint',
        input.endpoint_id,
      )
      if (run === 'inactive') {
        throw inactive(input.endpoint_id)
      }
      return toRecovery(run)
    },
  }),

  getRecovery: operation({
    summary: "A recovery's progress",
    input: RecoveryRef,
    output: Recovery,
    async run(ctx, input) {
      return toRecovery(
        found(await ctx.store.recoveries.find(input.recovery_id), 'recovery', input.recovery_id),
      )
    },
  }),

  listRecoveries: operation({
    summary: "The org's recoveries, newest first",
    input: ListRecoveriesInput,
    output: Page(Recovery, 'RecoveryPage'),
    async run(ctx, input) {
      const page = await keysetPage(
        input,
        (direction, from, limit) => ctx.store.recoveries.list({ direction, from, limit }),
        { schema: zod.string(), of: (row) => row.id },
      )
      return { data: page.rows.map(toRecovery), next_cursor: page.next_cursor, prev_cursor: page.prev_cursor }
    },
  }),
}
