import { sql } from 'kysely'
import { sqlState } from '../errors.ts'
import type { Db } from './database.ts'

/**
 * One round trip through `db`: unlike database.ts's ping on the bare pool, a connection that
 * went silent is given up at the statement deadline and dropped, rather than held for ever.
 */
export async function pingDb(db: Db): Promise<void> {
  await sql`select 1`.execute(db)
}

/** What readiness needs from the database (src/metrics/health.ts). */
export type StoredReadiness = {
  /** The newest of migrations/*.sql applied; null when none is (the schema is not installed). */
  latestMigration: number | null
  /** Whether webhooks.worker_pools holds the pool (its heartbeat keeps it there). */
  poolRegistered: boolean
}

/** Reads what readiness needs for the worker pool `poolId` (none yet: undefined) in one statement. */
export async function readReadiness(db: Db, poolId: string | undefined): Promise<StoredReadiness> {
  try {
    const { rows } = await sql<{ latest: number | null; registered: boolean }>`
      select (select max(id) from webhooks.migrations) as latest,
        exists (select 1 from webhooks.worker_pools where id = ${poolId ?? null}) as registered`.execute(db)
    return { latestMigration: rows[0]?.latest ?? null, poolRegistered: rows[0]?.registered ?? false }
  } catch (error) {
    // 42P01 undefined_table, 3F000 invalid_schema_name: nothing is migrated yet.
    const state = sqlState(error)
    if (state === '42P01' || state === '3F000') {
      return { latestMigration: null, poolRegistered: false }
    }
    throw error
  }
}
