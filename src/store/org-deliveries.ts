import { sql } from 'kysely'
import type { Db } from './database.ts'
import { transact } from './database.ts'
import type { DeliveryRow, HistoryRow, StatusFilter } from './history.ts'
import { deliveryAttempts, STATUSES, selectDeliveries } from './history.ts'
import { replayDeliveries } from './replay.ts'

// One org's deliveries. Every query names the org: a delivery of another org is found, listed
// and replayed exactly as an unknown one (not at all). The scheduling columns the dispatcher
// owns are read here only, in selectDeliveries and the replay's status checks.

/** Filters of a delivery listing; each list matches any of its values, and all lists must match. */
export type DeliveryFilters = {
  statuses?: readonly StatusFilter[] | undefined
  eventTypes?: readonly string[] | undefined
  /** Endpoint ids, or 'render_url' for the renders' own URLs. */
  destinations?: readonly string[] | undefined
  /** The render (or collection) the event is about. */
  subjectIds?: readonly string[] | undefined
  /** Made at or after. */
  since?: Date | undefined
  /** Made before. */
  until?: Date | undefined
}

/**
 * A delivery's place in the newest-first order: its creation time in microseconds since the
 * epoch (exact, unlike a JavaScript Date), then its id.
 */
export type DeliveryKey = { micros: string; id: string }

/** `next`: older than `from`; `prev`: newer than `from`, nearest first. */
export type DeliveryPage = { direction: 'next' | 'prev'; from: DeliveryKey | undefined; limit: number }

export type OrgDeliveryRow = DeliveryRow & { key: DeliveryKey }

function withKey<T extends { key_micros: string; id: string }>(row: T) {
  const { key_micros, ...rest } = row
  return { ...rest, key: { micros: key_micros, id: row.id } }
}

/**
 * A page of one org's deliveries matching `filters`. Keyset pagination on (created_at, id): a
 * row is on exactly one page however many rows are added meanwhile. Rows come in the page's
 * direction (newest first for `next`, oldest first for `prev`).
 */
export async function listOrgDeliveries(
  db: Db,
  org: string,
  filters: DeliveryFilters,
  page: DeliveryPage,
): Promise<OrgDeliveryRow[]> {
  const { statuses, eventTypes, destinations, subjectIds, since, until } = filters
  const older = page.direction === 'next'
  const from = page.from
  const fromAt = from && sql<Date>`timestamptz 'epoch' + ${from.micros}::bigint * interval '1 microsecond'`
  const rows = await selectDeliveries(db)
    .select(sql<string>`(extract(epoch from d.created_at) * 1000000)::bigint::text`.as('key_micros'))
    .where('d.org_id', '=', org)
    .$if(statuses !== undefined, (q) =>
      q.where(
        'd.status',
        'in',
        (statuses ?? []).flatMap((s) => STATUSES[s]),
      ),
    )
    .$if(eventTypes !== undefined, (q) => q.where('e.type', 'in', [...(eventTypes ?? [])]))
    .$if(destinations !== undefined, (q) => q.where('d.destination', 'in', [...(destinations ?? [])]))
    .$if(subjectIds !== undefined, (q) =>
      q.where('e.org_id', '=', org).where('e.subject_id', 'in', [...(subjectIds ?? [])]),
    )
    .$if(since !== undefined, (q) => q.where('d.created_at', '>=', since as Date))
    .$if(until !== undefined, (q) => q.where('d.created_at', '<', until as Date))
    .$if(from !== undefined, (q) =>
      q.where(
        sql<boolean>`(d.created_at, d.delivery_id) ${sql.raw(older ? '<' : '>')} (${fromAt}, ${from?.id})`,
      ),
    )
    .orderBy('d.created_at', older ? 'desc' : 'asc')
    .orderBy('d.delivery_id', older ? 'desc' : 'asc')
    .limit(page.limit)
    .execute()
  return rows.map(withKey)
}

export type OrgDeliveryDetail = DeliveryRow & {
  event_created_at: Date
  data: unknown
  attempt_log: HistoryRow[]
}

/** One of the org's deliveries with its event's payload and every attempt; undefined when not the org's. */
export async function findOrgDelivery(
  db: Db,
  org: string,
  id: string,
): Promise<OrgDeliveryDetail | undefined> {
  const row = await selectDeliveries(db)
    .select(['e.created_at as event_created_at', 'e.data'])
    .where('d.org_id', '=', org)
    .where('d.delivery_id', '=', id)
    .executeTakeFirst()
  return row && { ...row, attempt_log: await deliveryAttempts(db, id) }
}

/** What replaying one delivery did; see replayDeliveries for when it does not. */
export type ReplayOne = 'replayed' | 'in_progress' | 'destination_inactive' | 'missing'

/**
 * Replays one of the org's deliveries (delivered or dropped) with a fresh retry budget and the
 * same id. The delivery is locked first, so the reason reported for a refusal is the one that held.
 */
export async function replayOrgDelivery(db: Db, org: string, id: string): Promise<ReplayOne> {
  return transact(db, async (trx) => {
    const row = await trx
      .selectFrom('webhooks.deliveries')
      .select('status')
      .where('org_id', '=', org)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst()
    if (row === undefined) {
      return 'missing'
    }
    if (row.status === 'pending') {
      return 'in_progress'
    }
    const replayed = await replayDeliveries(trx, [id], false)
    return replayed.length === 1 ? 'replayed' : 'destination_inactive'
  })
}

/**
 * Writes an example event of `type` for the org's endpoint with its one delivery, due now, and
 * wakes the dispatchers. The event is marked test and fanned out already, so it goes to this
 * endpoint only; its subject id holds '#', which no render id may, so it never stands in a
 * render's place. Undefined when the endpoint is not the org's, or is disabled.
 */
export async function insertTestDelivery(
  db: Db,
  org: string,
  endpointId: string,
  type: string,
  data: unknown,
): Promise<{ event_id: string; delivery_id: string } | undefined> {
  return transact(db, async (trx) => {
    const { rows } = await sql<{ event_id: string; delivery_id: string }>`
      with ep as (
        select id, org_id, url from webhooks.endpoints
        where org_id = ${org} and id = ${endpointId} and enabled and deleted_at is null
      ), ev as (
        insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at, test)
        select n.id, ep.org_id, ${type}, '#test:' || n.id, ${JSON.stringify(data)}::json,
          date_trunc('second', now()), now(), true
        from ep, (select webhooks.new_id('evt') as id) n
        returning id, org_id
      )
      insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
      select webhooks.new_id('dlv'), ev.id, ev.org_id, ep.id, ep.id, ep.url from ev, ep
      returning event_id, id as delivery_id`.execute(trx)
    const created = rows[0]
    if (created !== undefined) {
      await sql`select webhooks.enqueue_deliveries(${[created.delivery_id]}::text[])`.execute(trx)
    }
    return created
  })
}
