import { sql } from 'kysely'
import { asInvalidArgument } from '../errors.ts'
import type { Db } from './database.ts'

/**
 * Stores an org's first render-webhook secret; false when the org already has one. An org id
 * that record_render_status would refuse is refused here too (INVALID_ARGUMENT).
 */
export async function createOrgSecret(db: Db, orgId: string, sealed: string): Promise<boolean> {
  try {
    await sql`select webhooks.check_id('org_id', ${orgId})`.execute(db)
  } catch (error) {
    throw asInvalidArgument(error)
  }
  const result = await db
    .insertInto('webhooks.org_secrets')
    .values({ org_id: orgId, secret: sealed })
    .onConflict((oc) => oc.column('org_id').doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
}

/**
 * What a rotation did: `rotated`; `missing` (no such secret); or `signing`: the secret a rotation
 * replaced still signs until `until`, and rotating again (without `force`) would retire it at
 * once, breaking every receiver that has not switched yet; it keeps one previous secret only.
 */
export type Rotation = { result: 'rotated' } | { result: 'missing' } | { result: 'signing'; until: Date }

/**
 * Replaces an org's render-webhook secret; the old one keeps signing (beside the new one, in
 * webhook-signature) for `graceMs`. See Rotation for when it does not.
 */
export async function rotateOrgSecret(
  db: Db,
  orgId: string,
  sealed: string,
  graceMs: number,
  force = false,
): Promise<Rotation> {
  const result = await db
    .updateTable('webhooks.org_secrets')
    .set({ ...rotatedSecret(sealed, graceMs), rotated_at: sql`now()` })
    .where('org_id', '=', orgId)
    .where(previousRetired(force))
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) === 1) {
    return { result: 'rotated' }
  }
  const row = await db
    .selectFrom('webhooks.org_secrets')
    .select('previous_expires_at')
    .where('org_id', '=', orgId)
    .executeTakeFirst()
  return refusal(row)
}

/** Rows whose previous secret no longer signs (or any row, with `force`). */
export function previousRetired(force: boolean) {
  return sql<boolean>`(${force} or previous_expires_at is null or previous_expires_at <= now())`
}

/** Why a rotation matched no row: the row is missing, or its previous secret still signs. */
export function refusal(row: { previous_expires_at: Date | null } | undefined): Rotation {
  if (row === undefined) {
    return { result: 'missing' }
  }
  // Expired between the two statements: a second try rotates.
  return { result: 'signing', until: row.previous_expires_at ?? new Date() }
}

/**
 * The rotation rule shared by org and endpoint secrets: the current secret becomes the previous
 * one, which keeps signing until now + graceMs, and `sealed` becomes current. With no grace
 * nothing is kept (after a lost key, the unreadable old secret would else stay stored, and
 * `secrets reencrypt` would fail on it).
 */
export function rotatedSecret(sealed: string, graceMs: number) {
  return {
    previous_secret: graceMs > 0 ? sql<string>`secret` : null,
    previous_expires_at: graceMs > 0 ? sql<Date>`now() + ${graceMs} * interval '1 millisecond'` : null,
    secret: sealed,
  }
}

/** What is known of an org's render-webhook secret, without the secret; undefined without one. */
export type OrgSecretInfo = {
  created_at: Date
  rotated_at: Date | null
  /** Until when the secret a rotation replaced still signs beside the current one, if it does. */
  previous_secret_expires_at: Date | null
}

export async function findOrgSecret(
  db: Db,
  orgId: string,
): Promise<(OrgSecretInfo & { secret: string }) | undefined> {
  return db
    .selectFrom('webhooks.org_secrets')
    .select([
      'secret',
      'created_at',
      'rotated_at',
      sql<Date | null>`case when previous_expires_at > now() then previous_expires_at end`.as(
        'previous_secret_expires_at',
      ),
    ])
    .where('org_id', '=', orgId)
    .executeTakeFirst()
}
