import { sql } from 'kysely'
import type { Db } from './database.ts'

/** The work waiting in the database, as the metrics show it (docs/operations.md). */
export type Backlog = {
  /** Deliveries due now and not being attempted: pending and due, or leased by a worker that died. */
  due: number
  /** Recorded events not yet fanned out into deliveries. */
  eventsAwaitingFanOut: number
  /** How long the longest-waiting due delivery, or event awaiting fan-out, has waited; 0 when none. */
  oldestDueSeconds: number
  /** Pending deliveries whose next attempt (a retry, after a failure) is not due yet. */
  awaitingRetry: number
  /** Deliveries dropped (retries exhausted, or refused for good) within the last hour. */
  droppedLastHour: number
}

/**
 * Reads the backlog in one statement, by the database's clock. Each part walks a partial index
 * (deliveries_due, deliveries_leased, deliveries_dropped, events_unfanned), so its cost grows
 * with the backlog, not with the history; callers read it at most every few seconds, never per
 * attempt (src/metrics/backlog-reader.ts).
 */
export async function readBacklog(db: Db): Promise<Backlog> {
  const { rows } = await sql<{
    due: number
    events_awaiting_fan_out: number
    oldest_due_seconds: number
    awaiting_retry: number
    dropped_last_hour: number
  }>`
    with due as (
      select next_attempt_at as due_at from webhooks.deliveries
      where status = 'pending' and next_attempt_at <= now()
      union all
      select lease_until from webhooks.deliveries
      where status = 'in_flight' and lease_until < now()
    ), due_summary as (
      select count(*) as n, min(due_at) as oldest from due
    ), unfanned as (
      select count(*) as n, min(created_at) as oldest from webhooks.events where fanned_out_at is null
    )
    select due_summary.n as due,
      unfanned.n as events_awaiting_fan_out,
      coalesce(extract(epoch from now() - least(due_summary.oldest, unfanned.oldest)), 0)::float8
        as oldest_due_seconds,
      (select count(*) from webhooks.deliveries where status = 'pending' and next_attempt_at > now())
        as awaiting_retry,
      (select count(*) from webhooks.deliveries
        where status = 'dropped' and dropped_at > now() - interval '1 hour') as dropped_last_hour
    from due_summary, unfanned`.execute(db)
  const row = rows[0]
  if (row === undefined) {
    throw new Error('the backlog query returned no row')
  }
  return {
    due: row.due,
    eventsAwaitingFanOut: row.events_awaiting_fan_out,
    oldestDueSeconds: row.oldest_due_seconds,
    awaitingRetry: row.awaiting_retry,
    droppedLastHour: row.dropped_last_hour,
  }
}
