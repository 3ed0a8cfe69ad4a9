import { sql } from 'kysely'
import type { Db } from './database.ts'

/** The work waiting in the database, as the metrics show it (docs/operations.md). */
export type Backlog = {
  /** Deliveries due now and not being attempted: pending and due, or leased by a worker that died. */
  due: number
  /** Recorded events not yet fanned out into deliveries. */
  eventsAwaitingFanOut: number
  /**
   * How long the longest-waiting due delivery (of a destination not backing off), or event
   * awaiting fan-out, has waited; 0 when none.
   */
  oldestDueSeconds: number
  /** Due deliveries held back because their destination is backing off (unreachable). */
  heldBack: number
  /** Pending deliveries whose next attempt (a retry, after a failure) is not due yet. */
  awaitingRetry: number
  /**
   * Deliveries held for an operator: an outcome that could not be written, nor even the drop
   * after their last retry (webhooks.hold_outcome); due at no time, never retried by themselves.
   */
  deliveriesSetAside: number
  /** Events that could not be fanned out, set aside with events.fan_out_error and not put back. */
  eventsSetAside: number
  /** Destinations set aside for a while because claiming their deliveries failed on their data. */
  destinationsSetAside: number
  /** Deliveries dropped (retries exhausted, or refused for good) within the last hour. */
  droppedLastHour: number
  /** Destinations backing off: timing out or unreachable, probed one request at a time. */
  destinationsBackingOff: number
}

/**
 * Reads the backlog in one statement, by the database's clock. The delivery queue holds only
 * deliveries with attempts to come, and is read whole; the unfanned events and the dropped
 * deliveries walk partial indexes (events_unfanned, events_set_aside, deliveries_dropped), and
 * the destinations are read whole. Its cost grows with the
 * backlog, not with the history; callers read it at most every few seconds, never per attempt
 * (src/metrics/backlog-reader.ts).
 */
export async function readBacklog(db: Db): Promise<Backlog> {
  const { rows } = await sql<{
    due: number
    events_awaiting_fan_out: number
    oldest_due_seconds: number
    held_back: number
    awaiting_retry: number
    deliveries_set_aside: number
    events_set_aside: number
    destinations_set_aside: number
    dropped_last_hour: number
    destinations_backing_off: number
  }>`
    with queued as (
      -- Due: waiting and due, or leased by a worker whose lease ran out. A destination backing
      -- off holds its due deliveries back on purpose: they are counted apart, and do not age the
      -- backlog (one customer's dead server is not the system falling behind).
      select count(*) filter (where q.due_at <= now()) as due,
        count(*) filter (where q.due_at <= now() and d.backoff_since is not null) as held_back,
        min(q.due_at) filter (where q.due_at <= now() and d.backoff_since is null) as oldest,
        -- Held for an operator (due at infinity) is not awaiting a retry: it would wait for ever.
        count(*) filter (where not q.leased and q.due_at > now() and q.due_at <> 'infinity') as waiting,
        count(*) filter (where not q.leased and q.due_at = 'infinity') as set_aside
      from webhooks.delivery_queue q
      join webhooks.destinations d on d.id = q.destination_id
    ), dests as (
      select count(*) filter (where backoff_since is not null) as backing_off,
        count(*) filter (where set_aside_until > now()) as set_aside
      from webhooks.destinations
    ), unfanned as (
      select count(*) as n, min(created_at) as oldest from webhooks.events where fanned_out_at is null
    )
    select queued.due,
      unfanned.n as events_awaiting_fan_out,
      coalesce(extract(epoch from now() - least(queued.oldest, unfanned.oldest)), 0)::float8
        as oldest_due_seconds,
      queued.held_back,
      queued.waiting as awaiting_retry,
      queued.set_aside as deliveries_set_aside,
      (select count(*) from webhooks.events where fan_out_error is not null) as events_set_aside,
      dests.set_aside as destinations_set_aside,
      (select count(*) from webhooks.deliveries
        where dropped_at > now() - interval '1 hour') as dropped_last_hour,
      dests.backing_off as destinations_backing_off
    from queued, dests, unfanned`.execute(db)
  const row = rows[0]
  if (row === undefined) {
    throw new Error('the backlog query returned no row')
  }
  return {
    due: row.due,
    eventsAwaitingFanOut: row.events_awaiting_fan_out,
    oldestDueSeconds: row.oldest_due_seconds,
    heldBack: row.held_back,
    awaitingRetry: row.awaiting_retry,
    deliveriesSetAside: row.deliveries_set_aside,
    eventsSetAside: row.events_set_aside,
    destinationsSetAside: row.destinations_set_aside,
    droppedLastHour: row.dropped_last_hour,
    destinationsBackingOff: row.destinations_backing_off,
  }
}
