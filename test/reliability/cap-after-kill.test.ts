import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt, fannedOut } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'

// A worker SIGKILLed while it holds a capped destination's every slot: the slots are the
// destination's again once those leases run out, and another worker sends the rest.

const REQUEST_TIMEOUT_MS = 2_000
const LEASE_MARGIN_MS = 500
const LEASE_MS = REQUEST_TIMEOUT_MS + LEASE_MARGIN_MS

let testDb: TestDb
let receiver: Receiver
let survivor: WorkerHandle | undefined

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
})

afterAll(async () => {
  await survivor?.stop()
  await disposeChildren()
  await receiver?.close()
  await testDb?.drop()
})

describe('a worker killed holding all of a capped destination', () => {
  it('gives its slots back when its leases run out, and nothing exceeds the cap', async () => {
    // The first two requests (the killed worker's) are never answered; the rest at once.
    receiver.on('/held', (n) => (n <= 2 ? 'hang' : { status: 200 }))
    const endpoint = await endpointAt(testDb, 'org_kill', receiver.url('/held'), { maxInFlight: 2 })
    const env = {
      WEBHOOK_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`,
      WEBHOOK_LEASE_MARGIN: `${LEASE_MARGIN_MS}ms`,
    }
    const doomed = spawnWorker(testDb, env)
    await workerStarted(doomed)
    await backlog(testDb, 'org_kill', 6)
    await fannedOut(testDb)
    // As if it had answered before: its send window open to the cap (a new one starts at 1).
    await sql`update webhooks.destinations set send_window = 2, ready_at = now()
      where endpoint_id = ${endpoint}`.execute(testDb.db)
    const arrivals = () => receiver.requests.filter((r) => r.path === '/held')
    await vi.waitFor(() => expect(arrivals()).toHaveLength(2), { timeout: 10_000, interval: 20 })
    const claimedAt = Math.max(...arrivals().map((r) => r.at))
    doomed.process.kill('SIGKILL')
    expect(await doomed.exited).toBe('SIGKILL')

    survivor = await startTestWorker(testDb, env)
    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
          where org_id = 'org_kill' and status = 'delivered'`.execute(testDb.db)
        expect(rows[0]?.n).toBe(6)
      },
      { timeout: 20_000, interval: 50 },
    )
    // Nothing more was sent while the dead worker's leases held both slots.
    const later = arrivals().slice(2)
    expect(later).toHaveLength(6)
    expect(Math.min(...later.map((r) => r.at))).toBeGreaterThanOrEqual(claimedAt + LEASE_MS - 100)
    // The two it held were taken over: their lost attempts are logged, then made again.
    const { rows } = await sql<{ outcome: string; n: number }>`select outcome, count(*)::int as n
      from webhooks.attempts where org_id = 'org_kill' group by outcome order by outcome`.execute(testDb.db)
    expect(rows).toEqual([
      { outcome: 'delivered', n: 6 },
      { outcome: 'lost', n: 2 },
    ])
  })
})
