import { randomUUID } from 'node:crypto'
import type { Transaction } from 'kysely'
import { Kysely } from 'kysely'
import type pg from 'pg'
import { WebhookError } from '../errors.ts'
import type { RecordArgs } from '../store/recording.ts'
import { recordInTransaction, recordOnClient } from '../store/recording.ts'

export type RenderKind = 'image' | 'video'
export type RenderStatus = 'queued' | 'rendering' | 'completed' | 'failed'

export type RenderStatusChange = {
  orgId: string
  renderId: string
  kind: RenderKind
  status: RenderStatus
  templateId?: string | null
  /** Not with status 'failed' (refused, as by the SQL function). */
  resultUrl?: string | null
  /** Rounded to whole milliseconds (a difference of performance.now() readings will do). */
  durationMs?: number | null
  /** The render's own destination, signed with the org's render-webhook secret. */
  webhookUrl?: string | null
  /** A collection opened with openCollection / webhooks.open_collection first. */
  collectionId?: string | null
  /** Not with status 'completed': a code, a message or both, not empty (docs/contract.md section 4). */
  error?: { code?: string; message?: string } | null
}

/**
 * Records a render's status change in the caller's transaction, so the webhook event commits
 * or rolls back with the render's own write. Returns the event id (`evt_…`), or null when the
 * change makes no event (a non-terminal status, or a terminal status reported again).
 *
 * Pass a kysely `Transaction` (a plain `Kysely` does not compile), or a pg client on which
 * `BEGIN` was issued (checked at run time: outside a transaction it throws NOT_IN_TRANSACTION).
 *
 * @example
 * await db.transaction().execute(async (trx) => {
 *   await trx.updateTable('renders').set({ status: 'completed' }).where('id', '=', id).execute()
 *   await recordRenderStatus(trx, { orgId, renderId: id, kind: 'image', status: 'completed', resultUrl })
 * })
 */
export async function recordRenderStatus<DB>(
  trx: Transaction<DB> | pg.ClientBase,
  change: RenderStatusChange,
): Promise<string | null> {
  const args: RecordArgs = [
    change.orgId,
    change.renderId,
    change.kind,
    change.status,
    change.templateId ?? null,
    change.resultUrl ?? null,
    wholeMilliseconds(change.durationMs),
    change.webhookUrl ?? null,
    change.collectionId ?? null,
    change.error ? JSON.stringify(change.error) : null,
  ]
  if (trx instanceof Kysely) {
    // The type refuses a plain Kysely; this refuses one passed anyway (from JavaScript, or cast).
    if (!trx.isTransaction) {
      throw notInTransaction()
    }
    return recordInTransaction(trx, args)
  }
  const recorded = await recordOnClient(trx, args, randomUUID())
  if (recorded === 'outside') {
    throw notInTransaction()
  }
  return recorded.eventId
}

/**
 * The duration as the SQL function's integer. Not finite or beyond its range is refused here,
 * before anything is sent, so the caller's transaction is not aborted for it; a negative one is
 * the SQL function's to refuse (22023, naming duration_ms), like every other bad argument.
 */
function wholeMilliseconds(durationMs: number | null | undefined): number | null {
  if (durationMs === null || durationMs === undefined) {
    return null
  }
  const ms = Math.round(durationMs)
  if (!Number.isFinite(ms) || Math.abs(ms) > 2_147_483_647) {
    throw new WebhookError(
      'INVALID_ARGUMENT',
      `durationMs must be a finite number of milliseconds up to 2147483647, got ${durationMs}`,
    )
  }
  return ms
}

function notInTransaction(): WebhookError {
  return new WebhookError(
    'NOT_IN_TRANSACTION',
    'recordRenderStatus needs a client inside a transaction (issue BEGIN first), so the event commits with your write',
  )
}
