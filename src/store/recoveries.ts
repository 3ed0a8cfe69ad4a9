import { sql } from 'kysely'
import type { Db, RecoveryStatus } from './database.ts'
import { transact } from './database.ts'
import type { ReplaySelector } from './replay.ts'
import { countMatches, replayDeliveries, selectCandidates } from './replay.ts'

// Bulk recovery: an endpoint's dropped deliveries made since a time, replayed by a
// graphile-worker job (task `recover`) in batches. Each batch's replays and the run's cursor and
// counters commit together, so a run resumed after its worker died goes on after the last batch
// that committed: no delivery is replayed twice by one run.

export type Recovery = {
  id: string
  org_id: string
  endpoint_id: string
  since: Date
  until: Date
  status: RecoveryStatus
  total: number
  processed: number
  replayed: number
  skipped: number
  created_at: Date
  updated_at: Date
  finished_at: Date | null
}

/** The graphile-worker task that runs recoveries. */
export const RECOVER_TASK = 'recover'

const COLUMNS = [
  'id',
  'org_id',
  'endpoint_id',
  'since',
  'until',
  'status',
  'total',
  'processed',
  'replayed',
  'skipped',
  'created_at',
  'updated_at',
  'finished_at',
] as const

const selector = (r: Pick<Recovery, 'endpoint_id' | 'since' | 'until'>): ReplaySelector => ({
  by: 'endpoint',
  endpointId: r.endpoint_id,
  since: r.since,
  until: r.until,
})

/** How many dropped deliveries of the endpoint made in [since, until) there are now. */
export async function countRecoverable(
  db: Db,
  endpointId: string,
  since: Date,
  until?: Date,
): Promise<number> {
  return countMatches(db, { by: 'endpoint', endpointId, since, until })
}

/**
 * Records a recovery of the org's endpoint from `since` to now, counts what it matches, and
 * queues its job, all in one transaction. Undefined when the endpoint is not the org's (or
 * deleted); `inactive` when it is disabled (its deliveries would be dropped again at once).
 */
export async function createRecovery(
  db: Db,
  org: string,
  endpointId: string,
  since: Date,
): Promise<Recovery | 'inactive' | undefined> {
  return transact(db, async (trx) => {
    const endpoint = await trx
      .selectFrom('webhooks.endpoints')
      .select('enabled')
      .where('org_id', '=', org)
      .where('id', '=', endpointId)
      .where('deleted_at', 'is', null)
      .forShare()
      .executeTakeFirst()
    if (endpoint === undefined) {
      return undefined
    }
    if (!endpoint.enabled) {
      return 'inactive'
    }
    const [now] = (await sql<{ now: Date }>`select now()`.execute(trx)).rows
    const until = now?.now ?? new Date()
    const total = await countRecoverable(trx, endpointId, since, until)
    const run = await trx
      .insertInto('webhooks.recoveries')
      .values({
        id: sql<string>`webhooks.new_id('rcv')`,
        org_id: org,
        endpoint_id: endpointId,
        since,
        until,
        total,
      })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow()
    await sql`select graphile_worker.add_job(${RECOVER_TASK}, json_build_object('recovery_id', ${run.id}::text),
      job_key => ${`recover:${run.id}`}, max_attempts => 25)`.execute(trx)
    return run
  })
}

export async function findOrgRecovery(db: Db, org: string, id: string): Promise<Recovery | undefined> {
  return db
    .selectFrom('webhooks.recoveries')
    .select(COLUMNS)
    .where('org_id', '=', org)
    .where('id', '=', id)
    .executeTakeFirst()
}

/** The org's recoveries, a page in id order (newest first for `next`). */
export async function listOrgRecoveries(
  db: Db,
  org: string,
  page: { direction: 'next' | 'prev'; from: string | undefined; limit: number },
): Promise<Recovery[]> {
  const older = page.direction === 'next'
  return db
    .selectFrom('webhooks.recoveries')
    .select(COLUMNS)
    .where('org_id', '=', org)
    .$if(page.from !== undefined, (q) => q.where('id', older ? '<' : '>', page.from as string))
    .orderBy('id', older ? 'desc' : 'asc')
    .limit(page.limit)
    .execute()
}

/**
 * One batch of a recovery, in one transaction: the next `batchSize` matches after its cursor are
 * replayed where they can be, and the cursor and counters move past them. With no match left the
 * run is completed. Returns the run as it now is (undefined if it does not exist).
 */
export async function recoverBatch(db: Db, id: string, batchSize: number): Promise<Recovery | undefined> {
  return transact(db, async (trx) => {
    const run = await trx
      .selectFrom('webhooks.recoveries')
      .select([...COLUMNS, 'cursor'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst()
    if (run === undefined || run.status === 'completed') {
      return run
    }
    const batch = await selectCandidates(trx, selector(run), run.cursor, batchSize)
    const eligible = batch.filter((c) => c.skip === null).map((c) => c.id)
    const replayed = (await replayDeliveries(trx, eligible, true)).length
    const last = batch.at(-1)
    return trx
      .updateTable('webhooks.recoveries')
      .set({
        status: last === undefined ? 'completed' : 'running',
        cursor: last?.id ?? run.cursor,
        processed: run.processed + batch.length,
        replayed: run.replayed + replayed,
        skipped: run.skipped + batch.length - replayed,
        updated_at: sql`now()`,
        finished_at: last === undefined ? sql`now()` : null,
      })
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirst()
  })
}
