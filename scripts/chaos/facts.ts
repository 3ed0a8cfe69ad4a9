// What the database says after a chaos run. Read-only queries for this script alone, so they
// live beside it rather than in src/store (nothing in the product needs them).
import { sql } from 'kysely'
import type { Db } from '../../src/store/database.ts'

export type DbFacts = {
  events: Array<{ id: string; subject_id: string }>
  deliveries: Array<{
    id: string
    event_id: string
    destination: string
    status: string
    last_error: string | null
  }>
  /** Attempts written as lost by a lease reclaim, with the start of the attempt that followed. */
  lostAttempts: Array<{ delivery_id: string; claimed_at: Date; retried_at: Date | null }>
  attemptsByOutcome: Record<string, number>
  /**
   * Attempts whose worker lived to record them, yet the delivery was attempted again before it
   * was due: the lease ran out while the outcome waited to be written (a duplicate, not a loss).
   */
  liveLeaseExpiries: Array<{ delivery_id: string; started_at: Date }>
}

export async function readFacts(db: Db): Promise<DbFacts> {
  const events = await db.selectFrom('webhooks.events').select(['id', 'subject_id']).execute()
  const deliveries = await db
    .selectFrom('webhooks.deliveries')
    .select(['id', 'event_id', 'destination', 'status', 'last_error'])
    .execute()
  const lostAttempts = await db
    .selectFrom('webhooks.attempts as a')
    .leftJoin('webhooks.attempts as n', (join) =>
      join.onRef('n.delivery_id', '=', 'a.delivery_id').on(sql<boolean>`n.attempt_no = a.attempt_no + 1`),
    )
    .select(['a.delivery_id', 'a.started_at as claimed_at', 'n.started_at as retried_at'])
    .where('a.outcome', '=', 'lost')
    .where('a.error_code', '=', 'worker_lost')
    .execute()
  const liveLeaseExpiries = await db
    .selectFrom('webhooks.attempts as a')
    .innerJoin('webhooks.attempts as n', (join) =>
      join.onRef('n.delivery_id', '=', 'a.delivery_id').on(sql<boolean>`n.attempt_no = a.attempt_no + 1`),
    )
    .select(['a.delivery_id', 'a.started_at'])
    .where('a.outcome', '<>', 'lost')
    .where(sql<boolean>`n.started_at < coalesce(a.retry_at, 'infinity')`)
    .execute()
  const outcomes = await db
    .selectFrom('webhooks.attempts')
    .select(['outcome', (eb) => eb.fn.countAll<number>().as('count')])
    .groupBy('outcome')
    .execute()
  return {
    events,
    deliveries,
    lostAttempts,
    liveLeaseExpiries,
    attemptsByOutcome: Object.fromEntries(outcomes.map((row) => [row.outcome, Number(row.count)])),
  }
}

/** Work the system still owes: events not fanned out, deliveries pending or leased. */
export async function outstandingWork(db: Db): Promise<{ unfanned: number; open: number }> {
  const unfanned = await db
    .selectFrom('webhooks.events')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('fanned_out_at', 'is', null)
    .executeTakeFirstOrThrow()
  const open = await db
    .selectFrom('webhooks.delivery_queue')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow()
  return { unfanned: Number(unfanned.count), open: Number(open.count) }
}
