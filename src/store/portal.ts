import { sql } from 'kysely'
import type { Db, PortalCapabilityName } from './database.ts'
import { transact } from './database.ts'

// The portal's links and sessions (migrations/0015_portal.sql). Only hashes of their secrets are
// stored; the caller hashes and compares.

export type PortalSessionRow = {
  id: string
  org_id: string
  capabilities: PortalCapabilityName[]
  created_at: Date
  expires_at: Date
}

export async function insertPortalLink(
  db: Db,
  link: {
    id: string
    orgId: string
    secretHash: string
    capabilities: readonly PortalCapabilityName[]
    ttlMs: number
    sessionSeconds: number
  },
): Promise<{ expires_at: Date }> {
  return db
    .insertInto('webhooks.portal_links')
    .values({
      id: link.id,
      org_id: link.orgId,
      secret_hash: link.secretHash,
      capabilities: sql<PortalCapabilityName[]>`${[...link.capabilities]}::text[]`,
      session_seconds: link.sessionSeconds,
      expires_at: sql<Date>`now() + ${link.ttlMs} * interval '1 millisecond'`,
    })
    .returning('expires_at')
    .executeTakeFirstOrThrow()
}

/** The hash a link's secret must match, if it is unused and unexpired (now, by the database's clock). */
export async function usableLinkHash(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('webhooks.portal_links')
    .select('secret_hash')
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst()
  return row?.secret_hash
}

/**
 * Uses the link and opens its session, in one statement: of two exchanges of the same link, only
 * one finds it unused. Undefined when it was used or expired meanwhile.
 */
export async function exchangePortalLink(
  db: Db,
  linkId: string,
  session: { id: string; secretHash: string },
): Promise<PortalSessionRow | undefined> {
  const { rows } = await sql<PortalSessionRow>`
    with used as (
      update webhooks.portal_links set used_at = now()
      where id = ${linkId} and used_at is null and expires_at > now()
      returning id, org_id, capabilities, session_seconds
    )
    insert into webhooks.portal_sessions (id, org_id, link_id, secret_hash, capabilities, expires_at)
    select ${session.id}, org_id, id, ${session.secretHash}, capabilities,
      now() + session_seconds * interval '1 second'
    from used
    returning id, org_id, capabilities, created_at, expires_at`.execute(db)
  return rows[0]
}

/** A session that is neither expired nor revoked, with the hash its secret must match. */
export async function activePortalSession(
  db: Db,
  id: string,
): Promise<(PortalSessionRow & { secret_hash: string }) | undefined> {
  return db
    .selectFrom('webhooks.portal_sessions')
    .select(['id', 'org_id', 'capabilities', 'created_at', 'expires_at', 'secret_hash'])
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst()
}

/** An org's sessions that are still open, newest first. */
export async function listOrgPortalSessions(db: Db, org: string): Promise<PortalSessionRow[]> {
  return db
    .selectFrom('webhooks.portal_sessions')
    .select(['id', 'org_id', 'capabilities', 'created_at', 'expires_at'])
    .where('org_id', '=', org)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1000)
    .execute()
}

/** Revokes one of an org's open sessions; false when it has none by that id. */
export async function revokeOrgPortalSession(db: Db, org: string, id: string): Promise<boolean> {
  const result = await db
    .updateTable('webhooks.portal_sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('org_id', '=', org)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/** Revokes every open session of an org, and its links not used yet; how many sessions. */
export async function revokeOrgPortalSessions(db: Db, org: string): Promise<number> {
  return transact(db, async (trx) => {
    await trx
      .updateTable('webhooks.portal_links')
      .set({ used_at: sql<Date>`now()` })
      .where('org_id', '=', org)
      .where('used_at', 'is', null)
      .execute()
    const result = await trx
      .updateTable('webhooks.portal_sessions')
      .set({ revoked_at: sql<Date>`now()` })
      .where('org_id', '=', org)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  })
}

/** Deletes links and sessions that ended more than a day ago (they are kept a day for inquiries). */
export async function deleteEndedPortalRows(db: Db): Promise<void> {
  await db
    .deleteFrom('webhooks.portal_links')
    .where('expires_at', '<', sql<Date>`now() - interval '1 day'`)
    .execute()
  await db
    .deleteFrom('webhooks.portal_sessions')
    .where('expires_at', '<', sql<Date>`now() - interval '1 day'`)
    .execute()
}
