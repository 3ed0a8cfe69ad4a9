import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { claimDeliveries } from '../../src/store/claim.ts'
import type { Db } from '../../src/store/database.ts'
import { createDb } from '../../src/store/database.ts'
import type { AttemptRecord } from '../../src/store/outcomes.ts'
import { recordOutcomes } from '../../src/store/outcomes.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { enqueue } from '../helpers/queue.ts'

// Long enough for a new connection on a busy machine: each failure drops its connection.
const DEADLINE_MS = 1_000

let testDb: TestDb
let worker: Db
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_deadline')
  worker = createDb(testDb.pool, DEADLINE_MS)
})
afterAll(async () => {
  await testDb?.drop()
})

async function waitingOnLocks(): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'`.execute(testDb.db)
  return rows[0]?.n ?? -1
}

describe('a statement past the deadline', () => {
  it('fails, and its backend is ended: it neither waits on nor applies later', async () => {
    await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url)
      values ('dlv_blocked', 'evt_deadline', 'org_1', 'u', 'http://127.0.0.1:9/')`.execute(testDb.db)
    await enqueue(testDb.db, ['dlv_blocked'])
    const [claimed] = await claimDeliveries(testDb.db, {
      limit: 10,
      leaseMs: 60_000,
      defaultCap: 10,
      poolId: 'pool_test',
    })
    expect(claimed?.id).toBe('dlv_blocked')
    const record: AttemptRecord = {
      deliveryId: 'dlv_blocked',
      attemptNo: claimed?.attempts ?? 1,
      replayNo: 0,
      orgId: 'org_1',
      endpointId: null,
      destinationId: claimed?.destination_id ?? 0,
      startedAt: new Date(),
      durationMs: 1,
      statusCode: 200,
      errorCode: null,
      errorMessage: null,
      responseExcerpt: null,
      outcome: 'delivered',
      status: 'delivered',
      retryInMs: null,
      signal: 'answered',
    }
    const policy = { defaultCap: 10, probePausesMs: [1_000] }
    // Someone else holds the delivery's row; the worker's write waits on it, and is retried.
    const holder = await testDb.pool.connect()
    try {
      await holder.query('begin')
      await holder.query(`select 1 from webhooks.deliveries where id = 'dlv_blocked' for update`)
      for (let attempt = 0; attempt < 5; attempt++) {
        await expect(recordOutcomes(worker, [record], policy)).rejects.toThrow(
          `PostgreSQL did not answer within ${DEADLINE_MS} ms`,
        )
      }
      // Regression: each abandoned write kept waiting on the server, one more backend per retry.
      await vi.waitFor(async () => expect(await waitingOnLocks()).toBe(0), { timeout: 5_000, interval: 50 })
    } finally {
      await holder.query('rollback')
      holder.release()
    }
    // Nor does any of them go on to apply once the lock is free.
    await sleep(200)
    const row = await testDb.db
      .selectFrom('webhooks.delivery_state')
      .select('status')
      .where('delivery_id', '=', 'dlv_blocked')
      .executeTakeFirstOrThrow()
    expect(row.status).toBe('in_flight')
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.attempts
      where delivery_id = 'dlv_blocked'`.execute(testDb.db)
    expect(rows[0]?.n).toBe(0)
  })
})
