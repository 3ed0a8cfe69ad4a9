import { sql } from 'kysely'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { releaseDeadPools } from '../../src/store/worker-pools.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { TEST_KEY, testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { seedDropped } from '../helpers/dropped.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'

let testDb: TestDb
let receiver: Receiver
let blocker: pg.PoolClient | undefined
let survivor: WorkerHandle | undefined

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
})

afterAll(async () => {
  await disposeChildren()
  blocker?.release(true)
  await survivor?.stop()
  await receiver?.close()
  await testDb?.drop()
})

const progress = async (id: string) => testApi(testDb).getRecovery('org_k', { recovery_id: id })

describe('a bulk recovery whose worker is SIGKILLed mid-run', () => {
  it('resumes on another worker after the last batch that committed, and sends no delivery twice', async () => {
    const api = testApi(testDb)
    // The receiver fails until the worker is killed: the first batch's replays fail their whole
    // retry budget and are dropped again, so a run that started over (rather than after its
    // cursor) would replay them a second time.
    let failing = true
    receiver.on('/k', () => ({ status: failing ? 500 : 200 }))
    const ep = await api.createEndpoint('org_k', { url: receiver.url('/k') })
    // 500 dropped deliveries: batches of 200, so the run is killed inside its second batch.
    const dropped = await seedDropped(testDb, 'org_k', ep.id, 500)
    const run = await api.startRecovery('org_k', {
      endpoint_id: ep.id,
      since: new Date(Date.now() - 3_600_000).toISOString(),
    })
    expect(run.total).toBe(500)

    // A delivery of the second batch is locked, so that batch waits (uncommitted) for as long as needed.
    blocker = await testDb.pool.connect()
    await blocker.query('begin')
    await blocker.query('select id from webhooks.deliveries where id = $1 for update', [dropped[300]])

    // Long leases: on a loaded machine a short one could run out while an outcome is being
    // written, and the delivery would be sent again for that reason (at least once), not the run's.
    const leases = { WEBHOOK_REQUEST_TIMEOUT: '10s', WEBHOOK_LEASE_MARGIN: '30s' }
    const doomed = spawnWorker(testDb, { WEBHOOK_SECRETS_KEY: TEST_KEY, ...leases })
    await workerStarted(doomed)
    await vi.waitFor(async () => expect((await progress(run.id)).processed).toBe(200), {
      timeout: 20_000,
      interval: 100,
    })
    // The first batch's deliveries were tried and dropped again; the second batch waits on the lock.
    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
          where endpoint_id = ${ep.id} and status = 'dropped' and replays = 1`.execute(testDb.db)
        expect(rows[0]?.n).toBe(200)
        const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and datname = current_database()`.execute(testDb.db)
        expect(waiting.rows[0]?.n).toBeGreaterThan(0)
      },
      { timeout: 20_000, interval: 100 },
    )
    doomed.process.kill('SIGKILL')
    expect(await doomed.exited).toBe('SIGKILL')
    failing = false
    await blocker.query('commit')
    blocker.release()
    blocker = undefined

    // The dead worker's job is freed (as the reconciler does once its heartbeat is old) and runs again.
    survivor = await startTestWorker(testDb, { WEBHOOK_SECRETS_KEY: TEST_KEY, ...leases })
    await vi.waitFor(async () => expect(await releaseDeadPools(testDb.db, 2_000)).not.toEqual([]), {
      timeout: 20_000,
      interval: 250,
    })
    await vi.waitFor(async () => expect((await progress(run.id)).status).toBe('completed'), {
      timeout: 30_000,
      interval: 100,
    })
    expect(await progress(run.id)).toMatchObject({ total: 500, processed: 500, replayed: 500, skipped: 0 })
    // Each delivery was replayed once: the first 200 spent one retry budget (4 attempts) and stay
    // dropped; the other 300 arrived once each.
    await vi.waitFor(() => expect(receiver.requests).toHaveLength(200 * 4 + 300), {
      timeout: 20_000,
      interval: 100,
    })
    const sent = new Map<string, number>()
    for (const request of receiver.requests) {
      const id = String(request.headers['x-imtegrate-delivery-id'])
      sent.set(id, (sent.get(id) ?? 0) + 1)
    }
    expect(dropped.map((id) => sent.get(id))).toEqual(dropped.map((_, i) => (i < 200 ? 4 : 1)))
    const states = async () =>
      (
        await sql<{ status: string; replays: number; n: number }>`select status, replays, count(*)::int as n
          from webhooks.deliveries where endpoint_id = ${ep.id} group by 1, 2 order by 1`.execute(testDb.db)
      ).rows
    await vi.waitFor(async () =>
      expect((await states()).map((r) => r.status)).toEqual(['delivered', 'dropped']),
    )
    expect(await states()).toEqual([
      { status: 'delivered', replays: 1, n: 300 },
      { status: 'dropped', replays: 1, n: 200 },
    ])
  }, 120_000)
})
