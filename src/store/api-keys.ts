import { sql } from 'kysely'
import type { Db } from './database.ts'

/** An API key as listed: never its secret or hash. */
export type ApiKeyRow = { id: string; name: string; created_at: Date; revoked_at: Date | null }

export async function insertApiKey(
  db: Db,
  key: { id: string; name: string; secretHash: string },
): Promise<ApiKeyRow> {
  return db
    .insertInto('webhooks.api_keys')
    .values({ id: key.id, name: key.name, secret_hash: key.secretHash })
    .returning(['id', 'name', 'created_at', 'revoked_at'])
    .executeTakeFirstOrThrow()
}

/** Every key, revoked ones included, oldest first. */
export async function listApiKeys(db: Db): Promise<ApiKeyRow[]> {
  return db
    .selectFrom('webhooks.api_keys')
    .select(['id', 'name', 'created_at', 'revoked_at'])
    .orderBy('created_at')
    .orderBy('id')
    .execute()
}

/** The hash a key's secret must match, if the key exists and is not revoked. */
export async function activeKeyHash(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('webhooks.api_keys')
    .select('secret_hash')
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return row?.secret_hash
}

/** Revokes a key at once; `missing` for an unknown id, `already` if it was revoked before. */
export async function revokeApiKey(db: Db, id: string): Promise<'revoked' | 'already' | 'missing'> {
  const result = await db
    .updateTable('webhooks.api_keys')
    .set({ revoked_at: sql`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) === 1) {
    return 'revoked'
  }
  const row = await db.selectFrom('webhooks.api_keys').select('id').where('id', '=', id).executeTakeFirst()
  return row === undefined ? 'missing' : 'already'
}
