import { sql } from 'kysely'
import type { Db } from './database.ts'

/** The tables that hold destination secrets, and the column that identifies their rows. */
const TABLES = {
  org_secrets: 'org_id',
  endpoints: 'id',
} as const

export type SecretTable = keyof typeof TABLES

/** One row's stored secrets (as sealed), current and previous. */
export type StoredSecrets = { id: string; secret: string; previous_secret: string | null }

/** A page of rows after `afterId`, in id order; every row, deleted endpoints included. */
export async function secretsPage(
  db: Db,
  table: SecretTable,
  afterId: string,
  limit: number,
): Promise<StoredSecrets[]> {
  const id = sql.ref(TABLES[table])
  const { rows } = await sql<StoredSecrets>`
    select ${id} as id, secret, previous_secret from ${sql.table(`webhooks.${table}`)}
    where ${id} > ${afterId} order by ${id} limit ${limit}`.execute(db)
  return rows
}

export type Resealed = StoredSecrets & { old_secret: string; old_previous_secret: string | null }

/**
 * Writes re-sealed secrets, each only if the row still holds the value it was read with: a
 * rotation that ran meanwhile wins, and a later pass re-seals what it wrote. Returns how many
 * values were replaced.
 */
export async function replaceSealedSecrets(
  db: Db,
  table: SecretTable,
  rows: readonly Resealed[],
): Promise<number> {
  if (rows.length === 0) {
    return 0
  }
  const id = sql.ref(`t.${TABLES[table]}`)
  const col = <T>(pick: (r: Resealed) => T) => rows.map(pick)
  const { rows: counts } = await sql<{ replaced: number }>`
    with u as (
      select * from unnest(${col((r) => r.id)}::text[], ${col((r) => r.old_secret)}::text[],
        ${col((r) => r.secret)}::text[], ${col((r) => r.old_previous_secret)}::text[],
        ${col((r) => r.previous_secret)}::text[])
        as u(id, old_secret, new_secret, old_previous, new_previous)
    ), updated as (
      update ${sql.table(`webhooks.${table}`)} as t
      set secret = case when t.secret = u.old_secret then u.new_secret else t.secret end,
        previous_secret = case when t.previous_secret is not distinct from u.old_previous
          then u.new_previous else t.previous_secret end
      from u
      where ${id} = u.id
      returning (t.secret = u.new_secret and u.new_secret <> u.old_secret)::int
        + (t.previous_secret is not distinct from u.new_previous
           and u.new_previous is distinct from u.old_previous)::int as n
    )
    select coalesce(sum(n), 0)::int as replaced from updated`.execute(db)
  return counts[0]?.replaced ?? 0
}
