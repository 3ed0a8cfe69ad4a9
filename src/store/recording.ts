import type { Transaction } from 'kysely'
import { sql } from 'kysely'
import type pg from 'pg'

/** The arguments of webhooks.record_render_status, in its order. */
export type RecordArgs = readonly [
  orgId: string,
  renderId: string,
  kind: string,
  status: string,
  templateId: string | null,
  resultUrl: string | null,
  durationMs: number | null,
  webhookUrl: string | null,
  collectionId: string | null,
  error: string | null,
]

/** webhooks.record_render_status in a kysely transaction: the event id, or null. */
export async function recordInTransaction<DB>(
  trx: Transaction<DB>,
  args: RecordArgs,
): Promise<string | null> {
  const result = await sql<{ event_id: string | null }>`select webhooks.record_render_status(
    org_id => ${args[0]}, render_id => ${args[1]}, kind => ${args[2]}, status => ${args[3]},
    template_id => ${args[4]}, result_url => ${args[5]}, duration_ms => ${args[6]},
    webhook_url => ${args[7]}, collection_id => ${args[8]}, error => ${args[9]}::jsonb) as event_id`.execute(
    trx,
  )
  return result.rows[0]?.event_id ?? null
}

/**
 * webhooks.record_render_status on a pg client, only inside a transaction block: both statements
 * are queued at once, ahead of anything the caller queues next, and the second writes only in the
 * transaction the first marked (a local setting ends with its transaction; a value of this call's
 * own, `token`, so no setting made elsewhere passes). Outside a transaction block each runs alone,
 * and a queued COMMIT or ROLLBACK cannot slip between check and write. Resolves to `outside`
 * when no transaction block was open (nothing was written), else to the event id or null.
 */
export async function recordOnClient(
  client: pg.ClientBase,
  args: RecordArgs,
  token: string,
): Promise<{ eventId: string | null } | 'outside'> {
  const mark = client.query(`select set_config('webhooks.recorder_in_transaction', $1, true)`, [token])
  const call = client.query<{ event_id: string | null }>(
    `select webhooks.record_render_status(org_id => $1, render_id => $2, kind => $3, status => $4,
      template_id => $5, result_url => $6, duration_ms => $7, webhook_url => $8,
      collection_id => $9, error => $10::jsonb) as event_id
    where current_setting('webhooks.recorder_in_transaction', true) = $11`,
    [...args, token],
  )
  const [, result] = await Promise.all([mark, call])
  const [row] = result.rows
  return row === undefined ? 'outside' : { eventId: row.event_id }
}

/** webhooks.open_collection in a kysely transaction (its children then pass collection_id). */
export async function openCollection<DB>(
  trx: Transaction<DB>,
  collection: { orgId: string; collectionId: string; childCount: number; templateId: string | null },
): Promise<void> {
  await sql`select webhooks.open_collection(org_id => ${collection.orgId},
    collection_id => ${collection.collectionId}, child_count => ${collection.childCount},
    template_id => ${collection.templateId}, webhook_url => null)`.execute(trx)
}
