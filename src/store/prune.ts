import type { RawBuilder } from 'kysely'
import { sql } from 'kysely'
import type { Db } from './database.ts'

export type PruneCounts = { events: number; deliveries: number; attempts: number }

export type PruneOptions = {
  dryRun?: boolean
  /** Events examined and deleted per transaction. */
  batchSize?: number
  /** Called after each batch committed, with the totals so far. */
  onBatch?: (soFar: PruneCounts) => void
}

const BATCH_SIZE = 1_000

/**
 * Events whose history ended before `before`: made before it, fanned out, and with every
 * delivery settled (delivered or dropped) and last changed before it. Event ids begin with their
 * creation time in milliseconds (webhooks.new_id), so the primary key finds old events without an
 * index on created_at, which would cost every recording. OFFSET 0 keeps the NOT EXISTS a probe of
 * each event's deliveries by index: as an anti join it was planned as a scan of every delivery, in
 * every batch.
 */
function settledBefore(before: Date): RawBuilder<unknown> {
  return sql`e.id < 'evt_' || lpad(to_hex((extract(epoch from ${before}::timestamptz) * 1000)::bigint), 12, '0')
    and e.created_at < ${before} and e.fanned_out_at is not null
    and not exists (select 1 from webhooks.deliveries d where d.event_id = e.id
      and (d.status in ('pending', 'in_flight') or d.updated_at >= ${before}) offset 0)`
}

/**
 * Deletes the events whose history ended before `before`, with their deliveries and attempts,
 * in batches of one transaction each; returns what was deleted (with dryRun: what would be).
 *
 * A delivery replayed while its event is being pruned keeps its event: the delete re-checks each
 * delivery's status after waiting for the replay's lock, and an event keeps every row a surviving
 * delivery needs. Events locked by someone else are passed over; a later run takes them.
 */
export async function prune(db: Db, before: Date, options: PruneOptions = {}): Promise<PruneCounts> {
  if (options.dryRun) {
    const { rows } = await sql<PruneCounts>`
      select count(*)::int as events,
        coalesce(sum((select count(*) from webhooks.deliveries d where d.event_id = e.id)), 0)::int as deliveries,
        coalesce(sum((select count(*) from webhooks.deliveries d join webhooks.attempts a on a.delivery_id = d.id
                      where d.event_id = e.id)), 0)::int as attempts
      from webhooks.events e where ${settledBefore(before)}`.execute(db)
    const counts = rows[0] ?? { events: 0, deliveries: 0, attempts: 0 }
    options.onBatch?.(counts)
    return counts
  }
  const batchSize = options.batchSize ?? BATCH_SIZE
  const total: PruneCounts = { events: 0, deliveries: 0, attempts: 0 }
  // Each batch starts after the last event the previous one examined, so events kept (locked,
  // or with a delivery replayed meanwhile) are not examined again and every run ends.
  let after = ''
  for (;;) {
    const { rows } = await batchStatement(after, before, batchSize).execute(db)
    const batch = rows[0]
    if (batch === undefined || batch.examined === 0 || batch.last === null) {
      return total
    }
    total.events += batch.events
    total.deliveries += batch.deliveries
    total.attempts += batch.attempts
    options.onBatch?.({ ...total })
    if (batch.examined < batchSize) {
      return total
    }
    after = batch.last
  }
}

/**
 * One batch: lock up to `batchSize` events after `after` whose history ended before `before`,
 * delete their settled deliveries (re-checked after any lock wait), those deliveries' attempts,
 * and the events left with no delivery. Exported for the test that reads its plan.
 */
export function batchStatement(after: string, before: Date, batchSize: number) {
  return sql<PruneCounts & { examined: number; last: string | null }>`
    with candidates as (
      select e.id from webhooks.events e
      where e.id > ${after} and ${settledBefore(before)}
      order by e.id limit ${batchSize}
      for update of e skip locked
    ), gone_deliveries as (
      delete from webhooks.deliveries d using candidates c
      where d.event_id = c.id and d.status in ('delivered', 'dropped') and d.updated_at < ${before}
      returning d.id
    ), gone_attempts as (
      delete from webhooks.attempts a using gone_deliveries g where a.delivery_id = g.id
      returning 1
    ), gone_events as (
      delete from webhooks.events e using candidates c
      where e.id = c.id and not exists (select 1 from webhooks.deliveries d
        where d.event_id = e.id and d.id not in (select id from gone_deliveries))
      returning 1
    )
    select (select count(*) from candidates)::int as examined, (select max(id) from candidates) as last,
      (select count(*) from gone_events)::int as events,
      (select count(*) from gone_deliveries)::int as deliveries,
      (select count(*) from gone_attempts)::int as attempts`
}
