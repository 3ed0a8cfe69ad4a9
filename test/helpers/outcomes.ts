import { sql } from 'kysely'
import type pg from 'pg'
import type { ClaimedDelivery } from '../../src/store/claim.ts'
import type { Db } from '../../src/store/database.ts'
import type { AttemptRecord, DestinationPolicy } from '../../src/store/outcomes.ts'
import { outcomeArguments } from '../../src/store/outcomes.ts'

/**
 * The outcome of an attempt of `claimed` that got `statusCode`: delivered on 200, retried in a
 * minute (or `retryInMs`) on 5xx, dropped otherwise.
 */
export function outcomeOf(claimed: ClaimedDelivery, statusCode: number, retryInMs = 60_000): AttemptRecord {
  const retry = statusCode >= 500
  return {
    deliveryId: claimed.id,
    attemptNo: claimed.attempts,
    replayNo: claimed.replays,
    orgId: claimed.org_id,
    endpointId: claimed.endpoint_id,
    destinationId: claimed.destination_id,
    startedAt: new Date(),
    durationMs: 5,
    statusCode,
    errorCode: statusCode === 200 ? null : `http_${statusCode}`,
    errorMessage: statusCode === 200 ? null : `the receiver answered ${statusCode}`,
    responseExcerpt: null,
    outcome: statusCode === 200 ? 'delivered' : retry ? 'retrying' : 'dropped',
    status: statusCode === 200 ? 'delivered' : retry ? 'pending' : 'dropped',
    retryInMs: retry ? retryInMs : null,
    signal: 'answered',
  }
}

/**
 * webhooks.record_outcomes with the worker's own arguments, on `client` (its transaction, its
 * session settings) rather than on a pool.
 */
export async function recordOutcomesOn(
  client: pg.PoolClient,
  db: Db,
  records: readonly AttemptRecord[],
  policy: DestinationPolicy,
): Promise<void> {
  const call =
    sql`select count(*) from webhooks.record_outcomes(${outcomeArguments(records, policy)})`.compile(db)
  await client.query(call.sql, [...call.parameters])
}
