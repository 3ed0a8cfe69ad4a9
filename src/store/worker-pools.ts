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

/**
 * The heartbeat: the pool is alive, and polls the outbox for the next `forMs` (null: idle), by
 * the database's clock, which is the one recorders compare it with. An upsert: a pool whose row
 * was reaped while it could not reach the database (a long outage) beats again.
 */
export async function advertisePolling(db: Db, poolId: string, forMs: number | null): Promise<void> {
  const until = forMs === null ? null : sql<Date>`clock_timestamp() + ${forMs} * interval '1 millisecond'`
  await db
    .insertInto('webhooks.worker_pools')
    .values({ id: poolId, hostname: hostname(), pid: process.pid, polling_until: until })
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: sql`now()`, polling_until: until }))
    .execute()
}

/**
 * Forgets a pool that stopped. A pool that still holds graphile-worker jobs (it stopped on a
 * fatal error, mid-completion) keeps its row: its heartbeat has stopped, so the reconciler frees
 * those jobs within a minute instead of graphile-worker's 4 hours.
 */
export async function unregisterPool(db: Db, poolId: string): Promise<void> {
  await sql`
    delete from webhooks.worker_pools
    where id = ${poolId}
      and not exists (select 1 from graphile_worker.jobs where locked_by = ${poolId})`.execute(db)
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
