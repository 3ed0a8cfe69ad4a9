import { hostname } from 'node:os'
import { sql } from 'kysely'
import type { Db } from './database.ts'

export async function registerPool(db: Db, poolId: string): Promise<void> {
  await db
    .insertInto('webhooks.worker_pools')
    .values({ id: poolId, hostname: hostname(), pid: process.pid })
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: sql`now()` }))
    .execute()
}

/** The heartbeat: the pool is alive, and polls the outbox until `until` (null: idle). */
export async function advertisePolling(db: Db, poolId: string, until: Date | null): Promise<void> {
  await db
    .updateTable('webhooks.worker_pools')
    .set({ heartbeat_at: sql`now()`, polling_until: until })
    .where('id', '=', poolId)
    .execute()
}

export async function unregisterPool(db: Db, poolId: string): Promise<void> {
  await db.deleteFrom('webhooks.worker_pools').where('id', '=', poolId).execute()
}

/**
 * Frees the graphile-worker jobs of pools whose heartbeat stopped (a SIGKILLed worker leaves
 * its jobs locked for 4 hours otherwise) and forgets those pools. Returns their ids.
 */
export async function releaseDeadPools(db: Db, staleAfterMs: number): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const dead = await trx
      .deleteFrom('webhooks.worker_pools')
      .where('heartbeat_at', '<', sql<Date>`now() - ${staleAfterMs} * interval '1 millisecond'`)
      .returning('id')
      .execute()
    const ids = dead.map((row) => row.id)
    if (ids.length > 0) {
      await sql`select graphile_worker.force_unlock_workers(${ids}::text[])`.execute(trx)
    }
    return ids
  })
}
