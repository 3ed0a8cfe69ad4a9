import { sql } from 'kysely'
import type { AttemptOutcome, Db, DeliveryStateView, LiveStatus } from './database.ts'

/** What every history row says of its delivery's event and destination. */
type DeliveryContext = {
  event_id: string
  event_type: string
  subject_id: string
  org_id: string
  destination: string
  endpoint_id: string | null
  url: string
}

/** A delivery as operators see it: its state now (webhooks.delivery_state) and the event it carries. */
export type DeliveryRow = DeliveryContext &
  Omit<DeliveryStateView, 'delivery_id' | 'destination_id' | keyof DeliveryContext> & {
    id: string
    /** An example sent from the API to one endpoint, not a render's event. */
    test: boolean
  }

/** One row of webhooks.delivery_history: one attempt. */
export type HistoryRow = DeliveryContext & {
  attempt_id: number
  delivery_id: string
  attempt: number
  /** 0 for the original retry budget; n from the first attempt after the n-th replay. */
  replay: number
  started_at: Date
  duration_ms: number
  status_code: number | null
  error: string | null
  outcome: AttemptOutcome
  /** The first bytes of the receiver's answer (up to 4 KB): '' for an empty body, null with no answer. */
  response_excerpt: string | null
}

/** `pending` covers deliveries waiting for a retry and those being attempted right now. */
export type StatusFilter = 'delivered' | 'pending' | 'dropped'

export type DeliveryFilter = {
  orgId?: string | undefined
  endpointId?: string | undefined
  status?: StatusFilter | undefined
  since?: Date | undefined
  limit: number
}

/** The statuses each status filter covers. */
export const STATUSES: Record<StatusFilter, LiveStatus[]> = {
  delivered: ['delivered'],
  pending: ['pending', 'in_flight'],
  dropped: ['dropped'],
}

/** Deliveries as they stand now, with their event's type and subject, as every listing shows them. */
export function selectDeliveries(db: Db) {
  return db
    .selectFrom('webhooks.delivery_state as d')
    .innerJoin('webhooks.events as e', 'e.id', 'd.event_id')
    .select([
      'd.delivery_id as id',
      'd.event_id',
      'e.type as event_type',
      'e.subject_id',
      'e.test',
      'd.org_id',
      'd.destination',
      'd.endpoint_id',
      'd.url',
      'd.status',
      'd.attempts',
      'd.failures',
      'd.replays',
      'd.next_attempt_at',
      'd.last_status_code',
      'd.last_error',
      'd.created_at',
      'd.delivered_at',
      'd.dropped_at',
    ])
}

/** Deliveries matching `filter`, newest first. */
export async function listDeliveries(db: Db, filter: DeliveryFilter): Promise<DeliveryRow[]> {
  const { orgId, endpointId, status, since } = filter
  return selectDeliveries(db)
    .$if(orgId !== undefined, (q) => q.where('d.org_id', '=', orgId as string))
    .$if(endpointId !== undefined, (q) => q.where('d.endpoint_id', '=', endpointId as string))
    .$if(status !== undefined, (q) => q.where('d.status', 'in', STATUSES[status as StatusFilter]))
    .$if(since !== undefined, (q) => q.where('d.created_at', '>=', since as Date))
    .orderBy('d.created_at', 'desc')
    .orderBy('d.delivery_id', 'desc')
    .limit(filter.limit)
    .execute()
}

export async function getDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  return selectDeliveries(db).where('d.delivery_id', '=', id).executeTakeFirst()
}

/** Every attempt of one delivery, across its replays, in order. */
export async function deliveryAttempts(db: Db, deliveryId: string): Promise<HistoryRow[]> {
  const { rows } = await sql<HistoryRow>`
    select * from webhooks.delivery_history
    where delivery_id = ${deliveryId}
    order by attempt`.execute(db)
  return rows
}

/**
 * The org an endpoint (deleted or not) or a delivery belongs to; undefined for an unknown id. For
 * an operator who names one by its id alone: what may be done with it is then the org's API's to say.
 */
export async function orgOf(db: Db, kind: 'endpoint' | 'delivery', id: string): Promise<string | undefined> {
  const row =
    kind === 'endpoint'
      ? await db.selectFrom('webhooks.endpoints').select('org_id').where('id', '=', id).executeTakeFirst()
      : await db.selectFrom('webhooks.deliveries').select('org_id').where('id', '=', id).executeTakeFirst()
  return row?.org_id
}

export type EndpointState = 'missing' | 'active' | 'disabled' | 'deleted'

export async function endpointState(db: Db, endpointId: string): Promise<EndpointState> {
  const row = await db
    .selectFrom('webhooks.endpoints')
    .select(['enabled', 'deleted_at'])
    .where('id', '=', endpointId)
    .executeTakeFirst()
  if (row === undefined) {
    return 'missing'
  }
  return row.deleted_at !== null ? 'deleted' : row.enabled ? 'active' : 'disabled'
}

export async function eventExists(db: Db, eventId: string): Promise<boolean> {
  const row = await db.selectFrom('webhooks.events').select('id').where('id', '=', eventId).executeTakeFirst()
  return row !== undefined
}

/** An org is known once it has recorded an event, registered an endpoint or made a secret. */
export async function orgExists(db: Db, orgId: string): Promise<boolean> {
  const { rows } = await sql<{ known: boolean }>`
    select exists (select 1 from webhooks.events where org_id = ${orgId})
      or exists (select 1 from webhooks.endpoints where org_id = ${orgId})
      or exists (select 1 from webhooks.org_secrets where org_id = ${orgId}) as known`.execute(db)
  return rows[0]?.known === true
}

export async function orgHasSecret(db: Db, orgId: string): Promise<boolean> {
  const row = await db
    .selectFrom('webhooks.org_secrets')
    .select('org_id')
    .where('org_id', '=', orgId)
    .executeTakeFirst()
  return row !== undefined
}
