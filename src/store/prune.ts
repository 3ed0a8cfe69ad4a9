import type { RawBuilder } from 'kysely'
import { sql } from 'kysely'
import { WebhookError } from '../errors.ts'
import type { Db } from './database.ts'
import { DeadlineError } from './database.ts'

export type PruneCounts = { events: number; deliveries: number; attempts: number }

export type PruneOptions = {
  dryRun?: boolean
  /** Events examined and deleted per transaction. */
  batchSize?: number
  /** Called after each batch committed, with the totals so far. */
  onBatch?: (soFar: PruneCounts) => void
  /** Aborted: stop before the next batch (what was pruned stays pruned). */
  signal?: AbortSignal
  /** Called when a batch outlasted the database deadline and is tried again at `size`. */
  onSmallerBatch?: (size: number, error: DeadlineError) => void
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
    and e.created_at < ${before} and e.fanned_out_at is not null and e.fan_out_error is null
    and not exists (select 1 from webhooks.deliveries d where d.event_id = e.id
      and (d.status = 'pending' or d.updated_at >= ${before}) offset 0)`
}

/** The database's clock, `ageMs` ago: the cutoff is compared with times the database wrote. */
export async function cutoffAgo(db: Db, ageMs: number): Promise<Date> {
  const { rows } = await sql<{
    before: Date
  }>`select now() - ${ageMs} * interval '1 millisecond' as before`.execute(db)
  const before = rows[0]?.before
  if (before === undefined) {
    throw new WebhookError('INTERNAL', 'the database returned no time')
  }
  return before
}

/**
 * Deletes the events whose history ended before `before`, with their deliveries and attempts,
 * in batches of one transaction each; returns what was deleted (with dryRun: what would be).
 *
 * Each batch locks its events, then every delivery of them (waiting for a replay or a worker
 * that holds one), and only then decides, with a fresh snapshot, which events are still settled:
 * an event whose delivery was replayed meanwhile is kept whole. Events locked by someone else are
 * passed over; a later run takes them.
 *
 * A batch that outlasts the database deadline (`createDb`'s) is rolled back and tried again at
 * half the size, down to one event, and the run goes on at that size: one fixed size that is
 * always too slow would fail every run from the same oldest event and never get past it.
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
  let batchSize = options.batchSize ?? BATCH_SIZE
  const total: PruneCounts = { events: 0, deliveries: 0, attempts: 0 }
  // Each batch starts after the last event the previous one examined, so events kept (locked,
  // or with a delivery replayed meanwhile) are not examined again and every run ends.
  let after = ''
  while (options.signal?.aborted !== true) {
    let batch: Awaited<ReturnType<typeof pruneBatch>>
    try {
      batch = await pruneBatch(db, after, before, batchSize)
    } catch (error) {
      if (!(error instanceof DeadlineError) || batchSize === 1) {
        throw error
      }
      batchSize = Math.ceil(batchSize / 2)
      options.onSmallerBatch?.(batchSize, error)
      // Its locks go with its backend; until then the next batch would pass its events over.
      await error.ended
      continue
    }
    if (batch === undefined) {
      return total
    }
    total.events += batch.events ?? 0
    total.deliveries += batch.deliveries ?? 0
    total.attempts += batch.attempts ?? 0
    options.onBatch?.({ ...total })
    if (batch.examined < batchSize) {
      return total
    }
    after = batch.last
  }
  return total
}

/** One batch in one transaction: what it deleted, or undefined when no candidate is left. */
function pruneBatch(db: Db, after: string, before: Date, batchSize: number) {
  return db.transaction().execute(async (trx) => {
    const { rows: events } = await lockCandidates(after, before, batchSize).execute(trx)
    const ids = events.map((event) => event.id)
    if (ids.length === 0) {
      return undefined
    }
    await sql`select 1 from webhooks.deliveries d where d.event_id = any(${ids}::text[]) for update`.execute(
      trx,
    )
    const { rows } = await deleteSettled(ids, before).execute(trx)
    return { examined: ids.length, last: ids[ids.length - 1] as string, ...rows[0] }
  })
}

/** Up to `batchSize` settled events after `after`, in id order, locked; exported for a plan test. */
export function lockCandidates(after: string, before: Date, batchSize: number) {
  return sql<{ id: string }>`
    select e.id from webhooks.events e
    where e.id > ${after} and ${settledBefore(before)}
    order by e.id limit ${batchSize}
    for update of e skip locked`
}

/**
 * Of the locked events `ids`, deletes those still settled (checked again now that their
 * deliveries are locked too) with all their deliveries and those deliveries' attempts.
 */
export function deleteSettled(ids: readonly string[], before: Date) {
  return sql<PruneCounts>`
    with settled as (
      select e.id from webhooks.events e where e.id = any(${ids}::text[]) and ${settledBefore(before)}
    ), gone_deliveries as (
      delete from webhooks.deliveries d using settled s where d.event_id = s.id
      returning d.id
    ), gone_attempts as (
      delete from webhooks.attempts a using gone_deliveries g where a.delivery_id = g.id
      returning 1
    ), gone_events as (
      delete from webhooks.events e using settled s where e.id = s.id
      returning 1
    )
    select (select count(*) from gone_events)::int as events,
      (select count(*) from gone_deliveries)::int as deliveries,
      (select count(*) from gone_attempts)::int as attempts`
}
