import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { requestsPerDelivery, startReceiver } from '../helpers/receiver.ts'
import type { TcpProxy } from '../helpers/tcp-proxy.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import type { ChildWorker } from './child-worker.ts'
import { spawnWorker } from './child-worker.ts'

// Duplicates across a database outage under load. The worker reaches PostgreSQL through a TCP
// proxy; the test stops the proxy (every connection of the worker's is cut, new ones are refused,
// as when the server is down) while about a window of requests is in flight, for longer than a
// lease, then brings it back. At least once stays the contract; a duplicate is allowed only for
// an attempt whose outcome was really lost. A worker that stays alive loses none: it holds the
// outcomes it could not write, claims nothing meanwhile, and writes them before any new claim,
// so its deliveries are neither taken over nor sent again.

const ENDPOINTS = 20
const EVENTS = 100
const DELIVERIES = ENDPOINTS * EVENTS
const OUTAGE_MS = 15_000
/** Each request is answered this long after it arrives: some are always in flight. */
const ANSWER_MS = 200
/** Request timeout + lease margin: a lease runs out well inside the outage. */
const LEASE_MS = 3_000

let testDb: TestDb
let receiver: Receiver
let proxy: TcpProxy
let worker: ChildWorker

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  for (let i = 0; i < ENDPOINTS; i++) {
    await endpointAt(testDb, 'org_1', receiver.url(`/ep-${i}`))
    receiver.on(`/ep-${i}`, () => ({ status: 200, delayMs: ANSWER_MS }))
  }
  await backlog(testDb, 'org_1', EVENTS)
  proxy = await startTcpProxy(testDb.url)
  worker = spawnWorker(
    { ...testDb, url: proxy.via(testDb.url) },
    {
      WEBHOOK_REQUEST_TIMEOUT: '2s',
      WEBHOOK_LEASE_MARGIN: `${LEASE_MS - 2_000}ms`,
      DATABASE_QUERY_TIMEOUT: '2s',
      LOG_LEVEL: 'warn',
    },
  )
  // Started: its log says nothing below warn, so wait for its first request instead.
  await vi.waitFor(
    () => {
      if (worker.process.exitCode !== null) {
        throw new Error(`the worker exited early:\n${worker.output()}`)
      }
      expect(receiver.requests.length).toBeGreaterThan(0)
    },
    { timeout: 60_000, interval: 50 },
  )
}, 90_000)

afterAll(async () => {
  await proxy?.close()
  await worker?.dispose()
  await receiver?.close()
  await testDb?.drop()
})

async function deliveredCount(): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
    where status = 'delivered'`.execute(testDb.db)
  return rows[0]?.n ?? 0
}

describe(`a database outage of ${OUTAGE_MS / 1000} s under load`, () => {
  it('costs no delivery, no worker restart and no duplicate: the outcomes held meanwhile are written', async () => {
    await vi.waitFor(() => expect(receiver.requests.length).toBeGreaterThanOrEqual(DELIVERIES / 5), {
      timeout: 30_000,
      interval: 20,
    })
    await proxy.stop()
    const cutAt = Date.now()
    await sleep(OUTAGE_MS)
    // Requests in flight when the database went were answered during the outage: their outcomes
    // could only be held, and their leases ran out meanwhile.
    const answeredInOutage = receiver.requests.filter((r) => r.at + ANSWER_MS > cutAt).length
    expect(answeredInOutage).toBeGreaterThan(0)
    const { rows: expired } = await sql<{ n: number }>`select count(*)::int as n from webhooks.delivery_queue
      where leased and due_at < now()`.execute(testDb.db)
    expect(expired[0]?.n).toBeGreaterThan(0)
    // Nothing new was sent meanwhile: claims need the database.
    expect(receiver.requests.filter((r) => r.at > cutAt + 1_000)).toEqual([])
    await proxy.resume()

    await vi.waitFor(async () => expect(await deliveredCount()).toBe(DELIVERIES), {
      timeout: 60_000,
      interval: 200,
    })
    expect([worker.process.exitCode, worker.process.signalCode], worker.output()).toEqual([null, null])

    const perDelivery = requestsPerDelivery(receiver.requests)
    expect(perDelivery.size).toBe(DELIVERIES)
    const duplicates = receiver.requests.length - perDelivery.size
    // At least once would allow one per attempt whose outcome was really lost (its lease taken
    // over after it was sent): with the worker alive, none was. (A claim whose answer the cut
    // swallowed is taken over too, its attempt logged lost, but it was never sent.)
    expect(duplicates).toBe(0)
    const { rows } = await sql<{ delivered: number; failed: number }>`
      select count(*) filter (where outcome = 'delivered')::int as delivered,
        count(*) filter (where outcome not in ('lost', 'delivered'))::int as failed
      from webhooks.attempts`.execute(testDb.db)
    expect(rows[0]).toEqual({ delivered: DELIVERIES, failed: 0 })
    // It did hold outcomes it could not write, and said so.
    expect(worker.output()).toContain('could not record attempts; retrying')
  }, 150_000)
})
