import { sql } from 'kysely'
import { asInvalidArgument } from '../errors.ts'
import type { Db } from './database.ts'
import { transact } from './database.ts'
import type { EndpointSummary } from './endpoints.ts'
import { disableEndpoints, selectSummaries } from './endpoints.ts'
import type { Rotation } from './secrets.ts'
import { previousRetired, refusal, rotatedSecret } from './secrets.ts'

// One org's endpoints. Every query here names the org: an endpoint of another org is found,
// changed and counted exactly as an unknown one (not at all). Deleted endpoints are gone.

/** A page of keyset pagination over ids: the rows after (or before) `from`, in that direction. */
export type IdPage = { direction: 'next' | 'prev'; from: string | undefined; limit: number }

/** One org's endpoints that were not deleted, a page in id (creation) order. */
export async function listOrgEndpoints(db: Db, org: string, page: IdPage): Promise<EndpointSummary[]> {
  const next = page.direction === 'next'
  return selectSummaries(db)
    .where('org_id', '=', org)
    .where('deleted_at', 'is', null)
    .$if(page.from !== undefined, (q) => q.where('id', next ? '>' : '<', page.from as string))
    .orderBy('id', next ? 'asc' : 'desc')
    .limit(page.limit)
    .execute()
}

export async function findOrgEndpoint(db: Db, org: string, id: string): Promise<EndpointSummary | undefined> {
  return selectSummaries(db)
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
}

export type EndpointChanges = {
  url?: string | undefined
  /** null: every event type. */
  eventTypes?: readonly string[] | null | undefined
  description?: string | null | undefined
  /** null: back to the workers' default. */
  maxInFlight?: number | null | undefined
  /** Requests per second; null: no limit. */
  rateLimit?: number | null | undefined
}

/**
 * Changes an endpoint's URL, event types, description or limits, checked by the same SQL rules as
 * registration. Its pending and dropped deliveries go to the new URL (a retry or a replay after a
 * fix should reach the fixed URL); delivered ones keep the URL they were delivered to. False when
 * the endpoint is not the org's (or deleted).
 */
export async function updateOrgEndpoint(
  db: Db,
  org: string,
  id: string,
  changes: EndpointChanges,
): Promise<boolean> {
  const types =
    changes.eventTypes === undefined || changes.eventTypes === null ? null : [...changes.eventTypes]
  return transact(db, async (trx) => {
    try {
      await sql`select webhooks.check_url('url', ${changes.url ?? null}),
        webhooks.check_event_types('event_types', ${types}::text[]),
        webhooks.check_endpoint_limits(${changes.maxInFlight ?? null}::integer, ${changes.rateLimit ?? null}::float8)`.execute(
        trx,
      )
    } catch (error) {
      throw asInvalidArgument(error)
    }
    const updated = await trx
      .updateTable('webhooks.endpoints')
      .set({
        ...(changes.url === undefined ? {} : { url: changes.url }),
        ...(changes.eventTypes === undefined ? {} : { event_types: types }),
        ...(changes.description === undefined ? {} : { description: changes.description }),
        ...(changes.maxInFlight === undefined ? {} : { max_in_flight: changes.maxInFlight }),
        ...(changes.rateLimit === undefined ? {} : { rate_limit: changes.rateLimit }),
        updated_at: sql`now()`,
      })
      .where('org_id', '=', org)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    if (Number(updated.numUpdatedRows) !== 1) {
      return false
    }
    if (changes.url !== undefined) {
      await trx
        .updateTable('webhooks.deliveries')
        .set({ url: changes.url, updated_at: sql`now()` })
        .where('endpoint_id', '=', id)
        .where('org_id', '=', org)
        .where('status', 'in', ['pending', 'dropped'])
        .execute()
    }
    return true
  })
}

/** Ids among `ids` that are endpoints of the org, not deleted, locked for the transaction. */
async function lockOwned(db: Db, org: string, id: string): Promise<boolean> {
  const row = await db
    .selectFrom('webhooks.endpoints')
    .select('id')
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Disables the org's endpoint and drops its pending deliveries (see disableEndpoints). Undefined
 * when it is not the org's; otherwise how many deliveries were dropped.
 */
export async function disableOrgEndpoint(
  db: Db,
  org: string,
  id: string,
  reason: string,
): Promise<number | undefined> {
  return transact(db, async (trx) => {
    if (!(await lockOwned(trx, org, id))) {
      return undefined
    }
    return (await disableEndpoints(trx, [id], reason)).dropped
  })
}

/** Soft delete (disabled for good, hidden; history stays). Undefined when not the org's. */
export async function deleteOrgEndpoint(db: Db, org: string, id: string): Promise<number | undefined> {
  return transact(db, async (trx) => {
    if (!(await lockOwned(trx, org, id))) {
      return undefined
    }
    const { dropped } = await disableEndpoints(trx, [id], 'the endpoint was deleted')
    await trx
      .updateTable('webhooks.endpoints')
      .set({ deleted_at: sql`now()`, updated_at: sql`now()` })
      .where('id', '=', id)
      .execute()
    return dropped
  })
}

/** Enables the org's endpoint; dropped deliveries stay dropped. False when not the org's. */
export async function enableOrgEndpoint(db: Db, org: string, id: string): Promise<boolean> {
  const result = await db
    .updateTable('webhooks.endpoints')
    .set({ enabled: true, disabled_at: null, disabled_reason: null, updated_at: sql`now()` })
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * Replaces the org's endpoint's secret; the old one keeps signing (beside the new one, in
 * webhook-signature) for `graceMs`. `missing` when not the org's, or deleted; see Rotation.
 */
export async function rotateOrgEndpointSecret(
  db: Db,
  org: string,
  id: string,
  sealed: string,
  graceMs: number,
  force: boolean,
): Promise<Rotation> {
  const result = await db
    .updateTable('webhooks.endpoints')
    .set({ ...rotatedSecret(sealed, graceMs), updated_at: sql`now()` })
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .where(previousRetired(force))
    .returning('previous_expires_at')
    .executeTakeFirst()
  if (result !== undefined) {
    return { result: 'rotated' }
  }
  const row = await db
    .selectFrom('webhooks.endpoints')
    .select('previous_expires_at')
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  return refusal(row)
}

/** The org's endpoint's stored (sealed) secret; undefined when not the org's. */
export async function orgEndpointSecret(db: Db, org: string, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('webhooks.endpoints')
    .select('secret')
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  return row?.secret
}
