import { sql } from 'kysely'
import type { Db, Trx } from './database.ts'

/** A stored answer to an idempotent request. */
export type StoredAnswer = { request_hash: string; status_code: number; response: string }

/** How long an answer is kept: a repeat after it runs the request again. */
export const IDEMPOTENCY_TTL_HOURS = 24

/**
 * Takes (principal, key) for this transaction. A new key (or one whose answer expired) is
 * claimed: undefined, and the caller runs the request and stores its answer before committing.
 * A key another transaction holds makes this wait until that one ends: if it committed, its
 * answer is returned; if it rolled back, the key is claimed here. So a request runs once however
 * many repeats arrive at the same time.
 */
export async function claimIdempotencyKey(
  trx: Trx,
  principal: string,
  key: string,
  requestHash: string,
): Promise<StoredAnswer | undefined> {
  const { rows } = await sql<{ claimed: boolean }>`
    insert into webhooks.idempotency_keys (principal, key, request_hash, status_code, response)
    values (${principal}, ${key}, ${requestHash}, 0, '')
    on conflict (principal, key) do update
      set request_hash = excluded.request_hash, status_code = 0, response = '', created_at = now()
      where webhooks.idempotency_keys.created_at < now() - ${IDEMPOTENCY_TTL_HOURS} * interval '1 hour'
    returning true as claimed`.execute(trx)
  if (rows.length === 1) {
    return undefined
  }
  return trx
    .selectFrom('webhooks.idempotency_keys')
    .select(['request_hash', 'status_code', 'response'])
    .where('principal', '=', principal)
    .where('key', '=', key)
    .executeTakeFirstOrThrow()
}

/** Stores the answer to a claimed key, in the transaction that claimed it. */
export async function storeIdempotentAnswer(
  trx: Trx,
  principal: string,
  key: string,
  answer: { status_code: number; response: string },
): Promise<void> {
  await trx
    .updateTable('webhooks.idempotency_keys')
    .set(answer)
    .where('principal', '=', principal)
    .where('key', '=', key)
    .execute()
}

/** Deletes up to `limit` expired answers; returns how many. */
export async function deleteExpiredAnswers(db: Db, limit: number): Promise<number> {
  const result = await sql`
    delete from webhooks.idempotency_keys where ctid = any(array(
      select ctid from webhooks.idempotency_keys
      where created_at < now() - ${IDEMPOTENCY_TTL_HOURS} * interval '1 hour' limit ${limit}))`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}
