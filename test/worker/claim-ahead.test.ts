import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'

// Under load, requests to receivers that answer at once end before the claim made for their
// slots returns; the dispatcher claims for them ahead (requests started within AHEAD_MS to
// destinations whose last request took no longer) and sends what it took as slots free up. What it must keep: never more requests at once than its slots,
// each delivery sent once, and nothing left leased when it stops.

const SLOTS = 4
const DESTINATIONS = 40
const EACH = 5
const TOTAL = DESTINATIONS * EACH

let testDb: TestDb
let receiver: Receiver
let workers: WorkerHandle[] = []

beforeEach(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  receiver.on('/ahead', () => ({ status: 200, delayMs: 3 }))
  // Forty orgs' endpoints at one URL: forty destinations, none held back by its cap.
  for (let i = 0; i < DESTINATIONS; i++) {
    await endpointAt(testDb, `org_ahead_${i}`, receiver.url('/ahead'))
    await backlog(testDb, `org_ahead_${i}`, EACH)
  }
})

afterEach(async () => {
  await Promise.all(workers.map((w) => w.stop()))
  workers = []
  await receiver.close()
  await testDb.drop()
})

// A lease is the request timeout plus the margin; one claimed ahead adds a timeout for its wait.
const TIMEOUT_S = 0.5
const MARGIN_S = 2

const start = async () => {
  const worker = await startTestWorker(testDb, {
    WORKER_CONCURRENCY: String(SLOTS),
    WEBHOOK_REQUEST_TIMEOUT: `${TIMEOUT_S * 1000}ms`,
    WEBHOOK_LEASE_MARGIN: `${MARGIN_S}s`,
  })
  workers.push(worker)
  return worker
}

async function leases(): Promise<{ n: number; longest: number }> {
  const { rows } = await sql<{ n: number; longest: number | null }>`
    select count(*)::int as n, max(extract(epoch from due_at - now()))::float8 as longest
    from webhooks.delivery_queue where leased`.execute(testDb.db)
  return { n: rows[0]?.n ?? 0, longest: rows[0]?.longest ?? 0 }
}

const leased = async () => (await leases()).n

async function delivered(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from webhooks.deliveries where status = 'delivered'`.execute(testDb.db)
  return rows[0]?.n ?? 0
}

describe('claiming ahead of free slots', () => {
  it('leases more than the free slots while requests end quickly, and sends no more at once than its slots', async () => {
    await start()
    let mostLeased = 0
    let longestLease = 0
    while ((await delivered()) < TOTAL) {
      const now = await leases()
      mostLeased = Math.max(mostLeased, now.n)
      longestLease = Math.max(longestLease, now.longest)
    }
    // Before claiming ahead, a worker never held more leases than its slots: a claim took only
    // the free ones, and wrote the outcomes of the requests that had freed them.
    expect(mostLeased).toBeGreaterThan(SLOTS)
    // Those claimed ahead were leased for their wait as well (the chaos run once saw a lease run
    // out under a live worker before they were).
    expect(longestLease).toBeGreaterThan(TIMEOUT_S + MARGIN_S)
    expect(longestLease).toBeLessThanOrEqual(2 * TIMEOUT_S + MARGIN_S)
    expect(receiver.mostAtOnce('/ahead')).toBeLessThanOrEqual(SLOTS)
    expect(receiver.requests.filter((r) => r.path === '/ahead')).toHaveLength(TOTAL)
    const { rows } = await sql<{ n: number; lost: number }>`select count(*)::int as n,
        count(*) filter (where outcome <> 'delivered')::int as lost from webhooks.attempts`.execute(testDb.db)
    expect(rows[0]).toEqual({ n: TOTAL, lost: 0 })
  })

  it('claims only for free slots while its receivers answer slowly, leaving their caps to other workers', async () => {
    // Regression: requests that had just started counted as about to end whatever the receiver,
    // so a worker leased ahead for slots held by 100 ms requests and kept a capped destination's
    // room to itself (test/reliability/limits-across-workers.test.ts saw 2 of a cap of 3 in flight).
    receiver.on('/ahead', () => ({ status: 200, delayMs: 60 }))
    await start()
    let mostLeased = 0
    while ((await delivered()) < TOTAL) {
      mostLeased = Math.max(mostLeased, await leased())
    }
    expect(mostLeased).toBeLessThanOrEqual(SLOTS)
    expect(receiver.requests).toHaveLength(TOTAL)
  })

  it('sends what it claimed ahead before it stops, leaving nothing leased', async () => {
    const first = await start()
    await vi.waitFor(() => expect(receiver.requests.length).toBeGreaterThanOrEqual(TOTAL / 4), {
      timeout: 10_000,
      interval: 2,
    })
    await first.stop()
    expect(await leased()).toBe(0)
    const sent = receiver.requests.length
    expect(await delivered()).toBe(sent)
    await start()
    await vi.waitFor(async () => expect(await delivered()).toBe(TOTAL), { timeout: 20_000, interval: 50 })
    // Each delivery was sent once: none was left leased to be taken over and sent again.
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(TOTAL)
    expect(receiver.requests).toHaveLength(TOTAL)
  })
})
