import { sql } from 'kysely'
import type { Db } from './database.ts'
import type { AttemptRecord, DestinationPolicy } from './outcomes.ts'
import { outcomeArguments } from './outcomes.ts'

/** A delivery leased to this worker for one attempt, with everything needed to send it. */
export type ClaimedDelivery = {
  id: string
  event_id: string
  org_id: string
  destination: string
  /** The destination it shares fairness, caps and backoff with (webhooks.destinations). */
  destination_id: number
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

export type ClaimRequest = {
  /** At most this many deliveries: the worker's free request slots. */
  limit: number
  leaseMs: number
  /** Requests in flight per destination, across workers, unless its endpoint sets max_in_flight. */
  defaultCap: number
  poolId: string
  /** Destinations this worker passes over this time (its slots for slow destinations are used up). */
  passedOver?: readonly number[]
  /** Only these destinations (finding the one a failing claim trips on). */
  only?: readonly number[]
  /** Take over no expired lease for this long (just after a database outage, their workers may be alive). */
  takeOverAfterMs?: number
}

/**
 * Leases due deliveries fairly across destinations, within each one's cap, send window, backoff
 * and rate limit (webhooks.claim_deliveries). An expired lease whose worker is gone is taken over:
 * its attempt is logged as lost and made again.
 */
export async function claimDeliveries(db: Db, request: ClaimRequest): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    select * from webhooks.claim_deliveries(max_deliveries => ${request.limit}::integer, ${claimOptions(request)})`.execute(
    db,
  )
  return rows
}

/** What a claim made after writing outcomes returns: see settleAndClaim. */
export type Settled = { claimed: ClaimedDelivery[]; dropped: Set<string> }

/**
 * Writes the outcomes of finished attempts (as recordOutcomes) and then claims (as
 * claimDeliveries), in one statement: one round trip and one commit where there were two, and
 * the claim finds the leases those attempts held released. Returns the deliveries claimed and
 * those the outcomes dropped. A failure leaves neither written.
 */
export async function settleAndClaim(
  db: Db,
  records: readonly AttemptRecord[],
  policy: DestinationPolicy,
  request: ClaimRequest,
): Promise<Settled> {
  // The claim takes its limit from the row the write returns: a LATERAL call runs once that row
  // exists, after every outcome is written, and each statement of a volatile function sees
  // what the statements before it in the transaction wrote.
  const { rows } = await sql<Partial<ClaimedDelivery> & { dropped: string[] }>`
    with written as materialized (
      select coalesce(array_agg(o.delivery_id), '{}') as dropped, ${request.limit}::integer as room
      from webhooks.record_outcomes(${outcomeArguments(records, policy)}) o
    )
    select w.dropped, c.* from written w
    left join lateral webhooks.claim_deliveries(max_deliveries => w.room, ${claimOptions(request)}) c on true`.execute(
    db,
  )
  const claimed: ClaimedDelivery[] = []
  for (const { dropped: _, ...row } of rows) {
    if (row.id != null) {
      claimed.push(row as ClaimedDelivery)
    }
  }
  return { claimed, dropped: new Set(rows[0]?.dropped) }
}

/** claim_deliveries's arguments but its limit. */
function claimOptions(request: ClaimRequest) {
  return sql`lease_ms => ${request.leaseMs}::integer, default_cap => ${request.defaultCap}::integer,
      pool_id => ${request.poolId}::text, passed_over => ${[...(request.passedOver ?? [])]}::bigint[],
      only_destinations => ${request.only === undefined ? null : [...request.only]}::bigint[],
      take_over_after_ms => ${request.takeOverAfterMs ?? 0}::integer`
}

/** The destinations whose turn it is, as the next claim would take them, up to `limit`. */
export async function readyDestinations(db: Db, limit: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    select id from webhooks.destinations where ready_at <= now() order by ready_at limit ${limit}`.execute(db)
  return rows.map((row) => row.id)
}

/**
 * Sets a destination aside for `pauseMs` with `error` as its last error: the claim that keeps
 * failing on one of its deliveries stops holding up every other destination's. `set_aside_until`
 * tells it apart from a destination merely waiting for its turn (the backlog counts it).
 */
export async function setDestinationAside(db: Db, id: number, pauseMs: number, error: string): Promise<void> {
  await sql`
    update webhooks.destinations
    set ready_at = now() + ${pauseMs} * interval '1 millisecond',
      set_aside_until = now() + ${pauseMs} * interval '1 millisecond', last_error = ${error.slice(0, 500)},
      last_error_at = now()
    where id = ${id}`.execute(db)
}
