import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt, fannedOut, percentile, trickleLatencies } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { giveOrgASecret } from '../reliability/fixtures.ts'

// One customer's server that hangs or crawls must not delay another customer's webhooks: a
// healthy destination's commit-to-arrival p99 beside a destination with 2,000 due deliveries
// that never answers (or answers in 2 s), and beside 10 such destinations of 10 orgs, stays
// within twice (plus 20 ms) its p99 alone. One worker with the production settings (64 request
// slots, a 10 s request timeout, the contract's retry schedule).

const TRICKLE = { count: 100, everyMs: 50 }
const BUDGET = (alone: number) => 2 * alone + 20

let testDb: TestDb
let healthy: Receiver
let hanging: Receiver
let slow: Receiver
let worker: WorkerHandle
let aloneP99 = Number.NaN
let trickles = 0

beforeAll(async () => {
  testDb = await createTestDatabase()
  healthy = await startReceiver()
  hanging = await startReceiver()
  slow = await startReceiver()
  hanging.on('/never', () => 'hang')
  slow.on('/crawl', () => ({ status: 200, delayMs: 2_000 }))
  worker = await startTestWorker(testDb, {
    WEBHOOK_REQUEST_TIMEOUT: '10s',
    WEBHOOK_RETRY_SCHEDULE: '1m,5m,30m,2h,12h',
    WEBHOOK_POLL_INTERVAL: '1s',
    WEBHOOK_SHUTDOWN_TIMEOUT: '100ms',
  })
})

afterAll(async () => {
  await worker?.stop()
  await Promise.all([healthy?.close(), hanging?.close(), slow?.close()])
  await testDb?.drop()
})

/** A healthy org's trickle of webhooks (its render URL, at the healthy receiver); their latencies. */
async function trickle(): Promise<number[]> {
  const org = `org_healthy_${++trickles}`
  await giveOrgASecret(testDb, org)
  return trickleLatencies(testDb, healthy, org, `/${org}`, TRICKLE)
}

describe('a healthy destination', () => {
  it('alone: the baseline', async () => {
    // Once to warm up (connections, plans), then measured.
    await trickle()
    aloneP99 = percentile(await trickle(), 0.99)
    expect(aloneP99).toBeLessThan(1_000)
  })

  it('beside a destination of another org that never answers, with 2,000 due deliveries', async () => {
    await endpointAt(testDb, 'org_hang', hanging.url('/never'))
    await backlog(testDb, 'org_hang', 2_000)
    await fannedOut(testDb)
    const p99 = percentile(await trickle(), 0.99)
    expect(p99, `alone ${aloneP99} ms`).toBeLessThanOrEqual(BUDGET(aloneP99))
    // It was tried (a probe at a time), and its backlog still waits.
    expect(hanging.requests.length).toBeGreaterThan(0)
    expect(hanging.requests.length).toBeLessThan(20)
  })

  it('beside a destination of another org that answers in 2 s, with 2,000 due deliveries', async () => {
    await endpointAt(testDb, 'org_slow', slow.url('/crawl'))
    await backlog(testDb, 'org_slow', 2_000)
    await fannedOut(testDb)
    const p99 = percentile(await trickle(), 0.99)
    expect(p99, `alone ${aloneP99} ms`).toBeLessThanOrEqual(BUDGET(aloneP99))
    expect(slow.requests.length).toBeGreaterThan(0)
  })

  it('beside 10 destinations of 10 orgs that never answer, 200 due deliveries each', async () => {
    for (let i = 0; i < 10; i++) {
      await endpointAt(testDb, `org_hang_${i}`, hanging.url('/never'))
      await backlog(testDb, `org_hang_${i}`, 200)
    }
    await fannedOut(testDb)
    const p99 = percentile(await trickle(), 0.99)
    expect(p99, `alone ${aloneP99} ms`).toBeLessThanOrEqual(BUDGET(aloneP99))
  })
})
