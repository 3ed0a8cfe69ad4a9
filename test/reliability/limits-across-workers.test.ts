import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt, fannedOut } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import type { ChildWorker } from './child-worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'

// An endpoint's cap on requests in flight and its rate limit hold across worker processes: the
// database keeps them, not each worker. Two real worker processes share the work here, each with
// two request slots: a cap of three is reached only with both sending, and kept only if the
// database keeps it across them. (A worker with slots to spare keeps a destination's freed
// capacity for itself: it writes an outcome and claims the next delivery in one statement.)

let testDb: TestDb
let receiver: Receiver
let workers: ChildWorker[] = []

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  workers = [0, 1].map(() => spawnWorker(testDb, { WEBHOOK_REQUEST_TIMEOUT: '5s', WORKER_CONCURRENCY: '2' }))
  await Promise.all(workers.map((worker) => workerStarted(worker)))
})

afterAll(async () => {
  await disposeChildren()
  await receiver?.close()
  await testDb?.drop()
})

const delivered = async (org: string) => {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
    where org_id = ${org} and status = 'delivered'`.execute(testDb.db)
  return rows[0]?.n ?? 0
}

describe('two workers sending to one endpoint', () => {
  it('never have more requests in flight to it than its cap, and use all of it', async () => {
    receiver.on('/capped', () => ({ status: 200, delayMs: 100 }))
    const endpoint = await endpointAt(testDb, 'org_cap', receiver.url('/capped'), { maxInFlight: 3 })
    await backlog(testDb, 'org_cap', 60)
    await fannedOut(testDb)
    await vi.waitFor(async () => expect(await delivered('org_cap')).toBe(60), {
      timeout: 30_000,
      interval: 100,
    })
    expect(receiver.mostAtOnce('/capped')).toBe(3)
    // Both workers took part (each logs its attempts, with the endpoint's id).
    for (const worker of workers) {
      expect(worker.output()).toContain(`"endpointId":"${endpoint}"`)
    }
  })

  it('keep to its rate limit together: 50 a second over 10 s, within 10%', async () => {
    receiver.on('/rated', () => ({ status: 200 }))
    await endpointAt(testDb, 'org_rate', receiver.url('/rated'), { rateLimit: 50 })
    await backlog(testDb, 'org_rate', 700)
    await fannedOut(testDb)
    const arrivals = () => receiver.requests.filter((r) => r.path === '/rated').map((r) => r.at)
    await vi.waitFor(() => expect(arrivals().length).toBeGreaterThan(0), { timeout: 10_000, interval: 20 })
    const first = Math.min(...arrivals())
    // Past the first burst (a tenth of a second's worth), a 10 s window.
    const from = first + 1_000
    const until = from + 10_000
    await vi.waitFor(() => expect(Math.max(...arrivals())).toBeGreaterThanOrEqual(until), {
      timeout: 20_000,
      interval: 100,
    })
    const inWindow = arrivals().filter((at) => at >= from && at < until).length
    expect(inWindow).toBeGreaterThanOrEqual(450)
    expect(inWindow).toBeLessThanOrEqual(550)
  })
})
