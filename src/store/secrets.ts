import { sql } from 'kysely'
import { sqlState, WebhookError } from '../errors.ts'
import type { Db } from './database.ts'

/**
 * Stores an org's first render-webhook secret; false when the org already has one. An org id
 * that record_render_status would refuse is refused here too (INVALID_ARGUMENT).
 */
export async function createOrgSecret(db: Db, orgId: string, sealed: string): Promise<boolean> {
  try {
    await sql`select webhooks.check_id('org_id', ${orgId})`.execute(db)
  } catch (error) {
    if (sqlState(error) === '22023') {
      throw new WebhookError('INVALID_ARGUMENT', (error as Error).message, { cause: error })
    }
    throw error
  }
  const result = await db
    .insertInto('webhooks.org_secrets')
    .values({ org_id: orgId, secret: sealed })
    .onConflict((oc) => oc.column('org_id').doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
}

/**
 * Replaces an org's render-webhook secret; the old one keeps signing (beside the new one, in
 * webhook-signature) for `graceMs`. False when the org has no secret yet.
 */
export async function rotateOrgSecret(
  db: Db,
  orgId: string,
  sealed: string,
  graceMs: number,
): Promise<boolean> {
  const result = await db
    .updateTable('webhooks.org_secrets')
    .set({ ...rotatedSecret(sealed, graceMs), rotated_at: sql`now()` })
    .where('org_id', '=', orgId)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * The rotation rule shared by org and endpoint secrets: the current secret becomes the previous
 * one, which keeps signing until now + graceMs, and `sealed` becomes current.
 */
export function rotatedSecret(sealed: string, graceMs: number) {
  return {
    previous_secret: sql<string>`secret`,
    previous_expires_at: sql<Date>`now() + ${graceMs} * interval '1 millisecond'`,
    secret: sealed,
  }
}
