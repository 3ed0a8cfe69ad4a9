import { sql } from 'kysely'
import type { AttemptOutcome, Db, DeliveryStatus } from './database.ts'

/** A delivery leased to this worker for one attempt, with everything needed to send it. */
export type ClaimedDelivery = {
  id: string
  event_id: string
  org_id: string
  destination: string
  endpoint_id: string | null
  url: string
  /** The number of this attempt (1-based, across replays). */
  attempts: number
  /** Failed attempts of the current budget before this one. */
  failures: number
  replays: number
  type: string
  created_at: Date
  data: unknown
  /** An example sent from the API: the attempt says so in a header. */
  test: boolean
  /** False when the endpoint was disabled or deleted after the delivery was made. */
  active: boolean
  secret: string | null
  previous_secret: string | null
}

/**
 * Leases up to `limit` deliveries that are due, or whose lease expired (their worker died
 * mid-attempt), for `leaseMs`, the longest waiting first. An expired lease leaves an attempt row
 * marked lost, so the log shows every attempt even when its worker could not write it.
 */
export async function claimDeliveries(db: Db, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    with due_now as (
      select id, next_attempt_at as due_at from webhooks.deliveries
      where status = 'pending' and next_attempt_at <= now()
      order by next_attempt_at limit ${limit} for update skip locked
    ), expired as (
      select id, lease_until as due_at from webhooks.deliveries
      where status = 'in_flight' and lease_until < now()
      order by lease_until limit ${limit} for update skip locked
    ), due as (
      -- Oldest first, whichever kind: an expired lease waits behind older due work, never behind
      -- newer, so a steady backlog cannot starve it. A claim never exceeds limit.
      select id from (select * from due_now union all select * from expired) c order by due_at limit ${limit}
    ), lost as (
      insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
        duration_ms, error_code, error_message, outcome)
      select d.id, d.attempts, d.replays, d.org_id, d.endpoint_id,
        d.lease_until - ${leaseMs} * interval '1 millisecond', 0, 'worker_lost',
        'the worker holding this attempt stopped before recording its outcome', 'lost'
      from webhooks.deliveries d
      -- By primary key: a join on status = 'in_flight' was planned as a scan of every leased row.
      where d.id = any(array(select id from due)) and d.status = 'in_flight'
      on conflict (delivery_id, attempt_no) do nothing
    ), claimed as (
      update webhooks.deliveries d
      set status = 'in_flight', attempts = d.attempts + 1,
        lease_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
      from due where d.id = due.id
      returning d.id, d.event_id, d.org_id, d.destination, d.endpoint_id, d.url, d.attempts, d.failures, d.replays
    )
    select c.*, e.type, e.created_at, e.data, e.test,
      case when c.endpoint_id is null then true else coalesce(ep.enabled and ep.deleted_at is null, false) end as active,
      case when c.endpoint_id is null then os.secret else ep.secret end as secret,
      case when c.endpoint_id is null
        then case when os.previous_expires_at > now() then os.previous_secret end
        else case when ep.previous_expires_at > now() then ep.previous_secret end
      end as previous_secret
    from claimed c
    join webhooks.events e on e.id = c.event_id
    left join webhooks.endpoints ep on ep.id = c.endpoint_id
    left join webhooks.org_secrets os on c.endpoint_id is null and os.org_id = c.org_id`.execute(db)
  return rows
}

/** The outcome of one attempt and the delivery state it leads to, as the batch writes it. */
export type AttemptRecord = {
  deliveryId: string
  attemptNo: number
  replayNo: number
  orgId: string
  endpointId: string | null
  startedAt: Date
  durationMs: number
  statusCode: number | null
  errorCode: string | null
  errorMessage: string | null
  responseExcerpt: string | null
  outcome: AttemptOutcome
  /** The delivery's new status; `in_flight` is never written back. */
  status: Exclude<DeliveryStatus, 'in_flight'>
  /** With status pending: the next attempt is due this long after the outcome is written, by the database's clock. */
  retryInMs: number | null
}

/**
 * Writes a batch of attempt outcomes in one statement: the attempt rows, the deliveries' new
 * states (and next_attempt_at, which is what wakes the next attempt). A delivery whose lease was
 * meanwhile taken over (it looked lost) keeps its new owner's state; its attempt row replaces the
 * placeholder marked lost. A retry for an endpoint that was disabled or deleted while the attempt
 * was in flight is not scheduled: the delivery is dropped now. Returns the ids of the deliveries
 * dropped that way.
 */
export async function recordAttempts(db: Db, records: readonly AttemptRecord[]): Promise<Set<string>> {
  if (records.length === 0) {
    return new Set()
  }
  const col = <T>(pick: (r: AttemptRecord) => T) => records.map(pick)
  // One statement: atomic without a transaction of its own.
  const { rows } = await sql<{ delivery_id: string }>`
    with given as (
      select * from unnest(
        ${col((r) => r.deliveryId)}::text[], ${col((r) => r.attemptNo)}::int[], ${col((r) => r.replayNo)}::int[],
        ${col((r) => r.orgId)}::text[], ${col((r) => r.endpointId)}::text[], ${col((r) => r.startedAt)}::timestamptz[],
        ${col((r) => r.durationMs)}::int[], ${col((r) => r.statusCode)}::int[], ${col((r) => r.errorCode)}::text[],
        ${col((r) => r.errorMessage)}::text[], ${col((r) => r.responseExcerpt)}::text[],
        ${col((r) => r.outcome)}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.retryInMs)}::int8[]
      ) as g(delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at, duration_ms, status_code,
             error_code, error_message, response_excerpt, outcome, status, retry_in_ms)
    ), r as (
      -- A retry for an endpoint disabled or deleted meanwhile: dropped now, not when it comes due.
      select g.delivery_id, g.attempt_no, g.replay_no, g.org_id, g.endpoint_id, g.started_at, g.duration_ms,
        g.status_code, g.error_code, g.error_message, g.response_excerpt, g.outcome as given_outcome,
        case when gone then 'dropped' else g.status end as status,
        case when gone and g.outcome = 'retrying' then 'dropped' else g.outcome end as outcome,
        case when gone then null else now() + g.retry_in_ms * interval '1 millisecond' end as next_attempt_at,
        case when gone then 'endpoint_disabled: ' || coalesce(ep.disabled_reason, 'the endpoint was deleted') end
          as drop_reason
      from given g
      left join webhooks.endpoints ep on ep.id = g.endpoint_id
      cross join lateral (select g.status = 'pending' and ep.id is not null
        and not (ep.enabled and ep.deleted_at is null) as gone) x
    ), updated as (
      update webhooks.deliveries d
      set status = r.status,
        failures = d.failures + (r.outcome in ('retrying', 'dropped'))::int,
        next_attempt_at = r.next_attempt_at,
        lease_until = null,
        last_status_code = r.status_code,
        last_error = case when r.outcome = 'delivered' then null
                          else coalesce(r.drop_reason, r.error_code || ': ' || r.error_message,
                                        'HTTP ' || r.status_code) end,
        delivered_at = case when r.status = 'delivered' then now() else d.delivered_at end,
        dropped_at = case when r.status = 'dropped' then now() end,
        updated_at = now()
      from r
      where d.id = r.delivery_id and d.status = 'in_flight' and d.attempts = r.attempt_no
      returning d.id, r.drop_reason
    ), inserted as (
      -- A result that comes too late (its lease was taken over) replaces the placeholder marked
      -- lost with what the receiver answered, but schedules and drops nothing: the delivery is
      -- its new owner's. With the delivery gone (the history was pruned) it is not written.
      insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
        duration_ms, status_code, error_code, error_message, response_excerpt, outcome, retry_at)
      select r.delivery_id, r.attempt_no, r.replay_no, r.org_id, r.endpoint_id, r.started_at, r.duration_ms,
        r.status_code, r.error_code, r.error_message, r.response_excerpt,
        case when u.id is null then r.given_outcome else r.outcome end,
        case when u.id is not null then r.next_attempt_at end
      from r left join updated u on u.id = r.delivery_id
      -- The delivery itself, not the placeholder: a takeover still committing is not in this
      -- statement's snapshot, but ON CONFLICT waits for its placeholder and then replaces it.
      -- FOR KEY SHARE waits for a prune deleting the delivery, and then finds it gone; unlike
      -- FOR SHARE it does not wait for another batch's update of it (two batches late for
      -- each other's deliveries deadlocked).
      where case when u.id is not null then true
        else exists (select 1 from webhooks.deliveries d where d.id = r.delivery_id for key share) end
      on conflict (delivery_id, attempt_no) do update
        set started_at = excluded.started_at, duration_ms = excluded.duration_ms,
          status_code = excluded.status_code, error_code = excluded.error_code,
          error_message = excluded.error_message, response_excerpt = excluded.response_excerpt,
          outcome = excluded.outcome, retry_at = excluded.retry_at
        where webhooks.attempts.outcome = 'lost'
    )
    select id as delivery_id from updated where drop_reason is not null`.execute(db)
  return new Set(rows.map((row) => row.delivery_id))
}
