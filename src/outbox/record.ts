import { randomUUID } from 'node:crypto'
import type { Transaction } from 'kysely'
import { Kysely, sql } from 'kysely'
import type pg from 'pg'
import { WebhookError } from '../errors.ts'

export type RenderKind = 'image' | 'video'
export type RenderStatus = 'queued' | 'rendering' | 'completed' | 'failed'

export type RenderStatusChange = {
  orgId: string
  renderId: string
  kind: RenderKind
  status: RenderStatus
  templateId?: string | null
  resultUrl?: string | null
  /** Rounded to whole milliseconds (a difference of performance.now() readings will do). */
  durationMs?: number | null
  /** The render's own destination, signed with the org's render-webhook secret. */
  webhookUrl?: string | null
  collectionId?: string | null
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
  const args = [
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
  ] as const
  if (trx instanceof Kysely) {
    // The type refuses a plain Kysely; this refuses one passed anyway (from JavaScript, or cast).
    if (!trx.isTransaction) {
      throw notInTransaction()
    }
    const result = await sql<{ event_id: string | null }>`select webhooks.record_render_status(
      org_id => ${args[0]}, render_id => ${args[1]}, kind => ${args[2]}, status => ${args[3]},
      template_id => ${args[4]}, result_url => ${args[5]}, duration_ms => ${args[6]}::integer,
      webhook_url => ${args[7]}, collection_id => ${args[8]}, error => ${args[9]}::jsonb) as event_id`.execute(
      trx,
    )
    return result.rows[0]?.event_id ?? null
  }
  // Both statements are queued at once, ahead of anything the caller queues next, and the second
  // writes only in the transaction the first marked (a local setting ends with its transaction;
  // a value of this call's own, so no setting made elsewhere passes): outside a transaction
  // block each runs alone, and a queued COMMIT or ROLLBACK cannot slip between check and write.
  const token = randomUUID()
  const mark = trx.query(`select set_config('webhooks.recorder_in_transaction', $1, true)`, [token])
  const call = trx.query<{ event_id: string | null }>(
    `select webhooks.record_render_status(org_id => $1, render_id => $2, kind => $3, status => $4,
      template_id => $5, result_url => $6, duration_ms => $7::integer, webhook_url => $8,
      collection_id => $9, error => $10::jsonb) as event_id
    where current_setting('webhooks.recorder_in_transaction', true) = $11`,
    [...args, token],
  )
  const [, result] = await Promise.all([mark, call])
  const [row] = result.rows
  if (row === undefined) {
    throw notInTransaction()
  }
  return row.event_id
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
