import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { DEAD_AFTER_MS, reconcile } from '../../src/worker/reconcile.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'
import { attemptsOf, deliveryOf, giveOrgASecret, recordCompleted } from './fixtures.ts'

let testDb: TestDb
let receiver: Receiver
let survivor: WorkerHandle | undefined

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  await giveOrgASecret(testDb)
})

afterAll(async () => {
  await disposeChildren()
  await survivor?.stop()
  await receiver?.close()
  await testDb?.drop()
})

const REQUEST_TIMEOUT_MS = 3_000
const LEASE_MARGIN_MS = 500
const POLL_MS = 100

describe('a worker SIGKILLed in the middle of a request', () => {
  it('loses nothing: another worker re-attempts the delivery with the same id once the lease ends', async () => {
    receiver.on('/killed', (n) => (n === 1 ? 'hang' : { status: 200 }))
    const doomed = spawnWorker(testDb, {
      WEBHOOK_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`,
      WEBHOOK_LEASE_MARGIN: `${LEASE_MARGIN_MS}ms`,
      WEBHOOK_POLL_INTERVAL: `${POLL_MS}ms`,
    })
    await workerStarted(doomed)

    const eventId = await recordCompleted(testDb, receiver.url('/killed'))
    const arrivals = () => receiver.requests.filter((r) => r.path === '/killed')
    await vi.waitFor(() => expect(arrivals()).toHaveLength(1), { timeout: 10_000 })
    // A second worker polls beside it (started now, so its start-up time does not count), but
    // cannot take the delivery while the lease holds.
    survivor = await startTestWorker(testDb, { WEBHOOK_POLL_INTERVAL: `${POLL_MS}ms` })
    doomed.process.kill('SIGKILL')
    expect(await doomed.exited).toBe('SIGKILL')
    expect((await deliveryOf(testDb, eventId)).status).toBe('in_flight')

    await vi.waitFor(async () => expect((await deliveryOf(testDb, eventId)).status).toBe('delivered'), {
      timeout: 15_000,
      interval: 50,
    })

    const [first, second] = arrivals()
    expect(arrivals()).toHaveLength(2)
    expect(second?.headers['x-imtegrate-delivery-id']).toBe(first?.headers['x-imtegrate-delivery-id'])
    expect(second?.headers['x-imtegrate-attempt']).toBe('2')
    // The lease (request timeout + margin) runs from the claim, just before the first request;
    // any polling worker takes it over within one poll interval of its end.
    const gap = (second?.at ?? Number.POSITIVE_INFINITY) - (first?.at ?? 0)
    expect(gap).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS)
    expect(gap).toBeLessThan(REQUEST_TIMEOUT_MS + LEASE_MARGIN_MS + POLL_MS + 1_000)
    expect((await attemptsOf(testDb, eventId)).map((a) => [a.attempt_no, a.outcome, a.error_code])).toEqual([
      [1, 'lost', 'worker_lost'],
      [2, 'delivered', null],
    ])
  })
})

describe('the reconciler', () => {
  it('unlocks the graphile-worker jobs of a pool whose heartbeat stopped, and forgets the pool', async () => {
    const dead = 'pool-dead0000000000000'
    const alive = 'pool-alive000000000000'
    await sql`select graphile_worker.add_job('reconcile_probe_dead', job_key => 'probe-dead')`.execute(
      testDb.db,
    )
    await sql`select graphile_worker.add_job('reconcile_probe_alive', job_key => 'probe-alive')`.execute(
      testDb.db,
    )
    await sql`update graphile_worker._private_jobs set locked_at = now() - interval '10 minutes',
      locked_by = case key when 'probe-dead' then ${dead} else ${alive} end
      where key in ('probe-dead', 'probe-alive')`.execute(testDb.db)
    await testDb.db
      .insertInto('webhooks.worker_pools')
      .values([
        {
          id: dead,
          hostname: 'gone',
          pid: 1,
          heartbeat_at: new Date(Date.now() - DEAD_AFTER_MS - 5_000),
        },
        { id: alive, hostname: 'here', pid: 2 },
      ])
      .execute()

    const kick = vi.fn()
    const released = await reconcile(testDb.db, createLogger('silent'), kick)

    expect(released).toEqual([dead])
    expect(kick).toHaveBeenCalledOnce()
    const { rows } = await sql<{ key: string; locked_by: string | null }>`
      select key, locked_by from graphile_worker.jobs where key like 'probe-%' order by key`.execute(
      testDb.db,
    )
    expect(rows).toEqual([
      { key: 'probe-alive', locked_by: alive },
      { key: 'probe-dead', locked_by: null },
    ])
    const pools = await testDb.db.selectFrom('webhooks.worker_pools').select('id').execute()
    expect(pools.map((p) => p.id)).not.toContain(dead)
    expect(pools.map((p) => p.id)).toContain(alive)
    // Running it again changes nothing: the task is safe to run twice.
    expect(await reconcile(testDb.db, createLogger('silent'), kick)).toEqual([])
  })
})
