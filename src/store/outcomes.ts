import { sql } from 'kysely'
import type { AttemptOutcome, Db, DeliveryStatus } from './database.ts'

/** What an attempt tells of its destination: it answered, it could not be reached, or nothing. */
export type DestinationSignal = 'answered' | 'unreachable' | null

/** The outcome of one attempt and the delivery state it leads to, as the batch writes it. */
export type AttemptRecord = {
  deliveryId: string
  attemptNo: number
  replayNo: number
  orgId: string
  endpointId: string | null
  destinationId: number
  startedAt: Date
  durationMs: number
  statusCode: number | null
  errorCode: string | null
  errorMessage: string | null
  responseExcerpt: string | null
  outcome: AttemptOutcome
  /** The delivery's new status. */
  status: DeliveryStatus
  /** With status pending: the next attempt is due this long after the outcome is written, by the database's clock. */
  retryInMs: number | null
  signal: DestinationSignal
}

/** How destinations react to outcomes: see webhooks.record_outcomes. */
export type DestinationPolicy = {
  /** Requests in flight per destination unless its endpoint sets max_in_flight. */
  defaultCap: number
  /** The pause before each probe of an unreachable destination, by the length of its streak. */
  probePausesMs: readonly number[]
}

/**
 * Writes a batch of attempt outcomes in one call (webhooks.record_outcomes): the attempt rows, the
 * deliveries' new states and next due times, and what the outcomes tell of their destinations. A
 * delivery whose lease was meanwhile taken over keeps its new owner's state; its attempt row
 * replaces the placeholder marked lost. A retry for an endpoint that was disabled or deleted
 * while the attempt was in flight is not scheduled: the delivery is dropped now. Returns the ids
 * of the deliveries dropped that way.
 */
export async function recordOutcomes(
  db: Db,
  records: readonly AttemptRecord[],
  policy: DestinationPolicy,
): Promise<Set<string>> {
  if (records.length === 0) {
    return new Set()
  }
  const { rows } = await sql<{ delivery_id: string }>`
    select delivery_id from webhooks.record_outcomes(${outcomeArguments(records, policy)})`.execute(db)
  return new Set(rows.map((row) => row.delivery_id))
}

/** webhooks.record_outcomes's arguments: the records column by column, then the policy. */
export function outcomeArguments(records: readonly AttemptRecord[], policy: DestinationPolicy) {
  const col = <T>(pick: (r: AttemptRecord) => T) => records.map(pick)
  return sql`
    ${col((r) => r.deliveryId)}::text[], ${col((r) => r.attemptNo)}::integer[], ${col((r) => r.replayNo)}::integer[],
    ${col((r) => r.orgId)}::text[], ${col((r) => r.endpointId)}::text[], ${col((r) => r.destinationId)}::bigint[],
    ${col((r) => r.startedAt)}::timestamptz[], ${col((r) => r.durationMs)}::integer[],
    ${col((r) => r.statusCode)}::integer[], ${col((r) => r.errorCode)}::text[], ${col((r) => r.errorMessage)}::text[],
    ${col((r) => r.responseExcerpt)}::text[], ${col((r) => r.outcome)}::text[], ${col((r) => r.status)}::text[],
    ${col((r) => r.retryInMs)}::bigint[], ${col((r) => r.signal)}::text[],
    ${policy.defaultCap}::integer, ${[...policy.probePausesMs]}::bigint[]`
}

/** What became of a delivery whose outcome could not be written: see holdOutcome. */
export type Held = 'retrying' | 'dropped' | 'held' | 'not_owned'

/**
 * The last resort for an attempt whose outcome cannot be written (webhooks.hold_outcome): its
 * delivery counts the attempt as failed, and is retried after `retryInMs` or, with null, dropped
 * with `error`; if even that cannot be written, it is held for an operator and never retried by
 * itself. `not_owned`: the attempt no longer holds the delivery's lease; nothing was changed.
 */
export async function holdOutcome(
  db: Db,
  record: Pick<AttemptRecord, 'deliveryId' | 'attemptNo'>,
  error: string,
  retryInMs: number | null,
): Promise<Held> {
  const { rows } = await sql<{ held: Held }>`
    select webhooks.hold_outcome(${record.deliveryId}::text, ${record.attemptNo}::integer, ${error}::text,
      ${retryInMs}::bigint) as held`.execute(db)
  return rows[0]?.held ?? 'not_owned'
}
