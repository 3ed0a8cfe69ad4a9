import { sql } from 'kysely'
import { asInvalidArgument, WebhookError } from '../errors.ts'
import type { Db, Trx } from './database.ts'

/** An endpoint as operators see it: never its secrets. */
export type EndpointSummary = {
  id: string
  org_id: string
  url: string
  description: string | null
  /** null: every event type of the org. */
  event_types: string[] | null
  enabled: boolean
  disabled_reason: string | null
  disabled_at: Date | null
  deleted_at: Date | null
  created_at: Date
  /** Until when the previous secret still signs beside the current one, if it does. */
  previous_secret_expires_at: Date | null
  /** Requests in flight across all workers; null: the workers' WEBHOOK_DESTINATION_CONCURRENCY. */
  max_in_flight: number | null
  /** Requests per second; null: no limit. */
  rate_limit: number | null
  /** Its delivery state now (webhooks.destination_status); zeros and healthy before its first delivery. */
  in_flight: number
  due: number
  waiting: number
  delivery_state: 'healthy' | 'backing_off'
  backoff_since: Date | null
  backoff_until: Date | null
  last_error: string | null
}

export type NewEndpoint = {
  orgId: string
  url: string
  /** The secret as stored: sealed by the application's SecretBox. */
  sealedSecret: string
  eventTypes: readonly string[] | null
  description: string | null
  maxInFlight?: number | null | undefined
  rateLimit?: number | null | undefined
}

/**
 * Registers an endpoint through webhooks.create_endpoint, where the rules for its URL and
 * event types live. Returns its id (`ep_…`); bad arguments throw INVALID_ARGUMENT.
 */
export async function createEndpoint(db: Db, endpoint: NewEndpoint): Promise<string> {
  try {
    const { rows } = await sql<{ id: string }>`select webhooks.create_endpoint(
      org_id => ${endpoint.orgId}, url => ${endpoint.url}, secret => ${endpoint.sealedSecret},
      event_types => ${endpoint.eventTypes === null ? null : [...endpoint.eventTypes]}::text[],
      description => ${endpoint.description}, max_in_flight => ${endpoint.maxInFlight ?? null}::integer,
      rate_limit => ${endpoint.rateLimit ?? null}::float8) as id`.execute(db)
    const id = rows[0]?.id
    if (id === undefined) {
      throw new WebhookError('INTERNAL', 'webhooks.create_endpoint returned no id')
    }
    return id
  } catch (error) {
    throw asInvalidArgument(error)
  }
}

/** Endpoints as operators see them (never their secrets); every lister starts from it. */
export function selectSummaries(db: Db) {
  return db
    .selectFrom('webhooks.endpoints')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('webhooks.destination_status as ds')
          .select([
            'ds.in_flight',
            'ds.due',
            'ds.waiting',
            'ds.state',
            'ds.backoff_since',
            'ds.backoff_until',
            'ds.last_error',
          ])
          .whereRef('ds.endpoint_id', '=', 'webhooks.endpoints.id')
          .as('live'),
      (join) => join.onTrue(),
    )
    .select([
      'id',
      'org_id',
      'url',
      'description',
      'event_types',
      'enabled',
      'disabled_reason',
      'disabled_at',
      'deleted_at',
      'created_at',
      sql<Date | null>`case when previous_expires_at > now() then previous_expires_at end`.as(
        'previous_secret_expires_at',
      ),
      'max_in_flight',
      'rate_limit',
      sql<number>`coalesce(live.in_flight, 0)`.as('in_flight'),
      sql<number>`coalesce(live.due, 0)`.as('due'),
      sql<number>`coalesce(live.waiting, 0)`.as('waiting'),
      sql<'healthy' | 'backing_off'>`coalesce(live.state, 'healthy')`.as('delivery_state'),
      'live.backoff_since',
      'live.backoff_until',
      'live.last_error',
    ])
}

/** Every org's endpoints that were not deleted, oldest first: an operator's view across orgs. */
export async function listEndpoints(db: Db): Promise<EndpointSummary[]> {
  return selectSummaries(db).where('deleted_at', 'is', null).orderBy('id').execute()
}

/**
 * Disables endpoints and, in the caller's transaction, drops their pending deliveries (their
 * retries stop; an operator can replay them). Endpoints already disabled keep their first
 * reason. A delivery in flight finishes its attempt; if it needs another, it is dropped
 * without sending when it falls due (claimDeliveries sees the endpoint inactive).
 */
export async function disableEndpoints(
  trx: Trx,
  ids: readonly string[],
  reason: string,
): Promise<{ disabled: string[]; dropped: number }> {
  if (ids.length === 0) {
    return { disabled: [], dropped: 0 }
  }
  const list = [...new Set(ids)]
  const disabled = await trx
    .updateTable('webhooks.endpoints')
    .set({ enabled: false, disabled_at: sql`now()`, disabled_reason: reason, updated_at: sql`now()` })
    .where('id', 'in', list)
    .where('enabled', '=', true)
    .returning('id')
    .execute()
  // Destinations first, in id order, as every writer of the queue takes them.
  await sql`select 1 from webhooks.destinations where endpoint_id = any(${list}::text[]) order by id for update`.execute(
    trx,
  )
  const { rows } = await sql<{ n: number }>`
    with gone as (
      delete from webhooks.delivery_queue q
      using webhooks.destinations dest
      where dest.endpoint_id = any(${list}::text[]) and q.destination_id = dest.id and not q.leased
      returning q.delivery_id, q.attempts, q.failures, q.replays, q.last_status_code
    ), dropped as (
      update webhooks.deliveries d
      set status = 'dropped', dropped_at = now(), attempts = g.attempts, failures = g.failures,
        replays = g.replays, last_status_code = g.last_status_code,
        last_error = ${`endpoint_disabled: ${reason}`}, updated_at = now()
      from gone g where d.id = g.delivery_id
      returning 1
    )
    select count(*)::int as n from dropped`.execute(trx)
  return { disabled: disabled.map((row) => row.id), dropped: rows[0]?.n ?? 0 }
}
