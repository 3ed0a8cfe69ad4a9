import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'

// A destination that hangs for two minutes and then recovers: its deliveries end delivered;
// while it hung it got one probe at a time, each a real attempt whose delivery then waits its
// schedule step; the rest were held back without attempts, so none was dropped early and none
// is held back once it answers again.

const HANG_MS = 120_000
const SCHEDULE_MS = [5_000, 10_000, 20_000, 40_000, 80_000]
const REQUEST_TIMEOUT_MS = 2_000
const EVENTS = 50

let testDb: TestDb
let receiver: Receiver
let worker: WorkerHandle

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  worker = await startTestWorker(testDb, {
    WEBHOOK_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`,
    WEBHOOK_RETRY_SCHEDULE: SCHEDULE_MS.map((ms) => `${ms}ms`).join(','),
    WEBHOOK_LEASE_MARGIN: '1s',
    WEBHOOK_POLL_INTERVAL: '200ms',
  })
})

afterAll(async () => {
  await worker?.stop()
  await receiver?.close()
  await testDb?.drop()
})

type Attempt = { delivery_id: string; attempt_no: number; started_at: Date; outcome: string }

describe('a destination that hangs for two minutes, then recovers', () => {
  it('gets every delivery in the end, probed meanwhile, on schedule, none dropped early', async () => {
    const recoversAt = Date.now() + HANG_MS
    receiver.on('/flaky', () => (Date.now() < recoversAt ? 'hang' : { status: 200 }))
    await endpointAt(testDb, 'org_flaky', receiver.url('/flaky'))
    await backlog(testDb, 'org_flaky', EVENTS)

    // Half way through it backs off, with most of its deliveries waiting and no attempt made.
    await sleep(HANG_MS / 2)
    const { rows: states } = await sql<{ state: string; due: number }>`
      select state, due from webhooks.destination_status where org_id = 'org_flaky'`.execute(testDb.db)
    expect(states).toEqual([{ state: 'backing_off', due: expect.any(Number) }])

    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ status: string; n: number }>`select status, count(*)::int as n
          from webhooks.deliveries where org_id = 'org_flaky' group by status`.execute(testDb.db)
        expect(rows).toEqual([{ status: 'delivered', n: EVENTS }])
      },
      { timeout: HANG_MS + 60_000, interval: 500 },
    )
    // Once it answered again, the rest followed within a probe's pause and a drain.
    const lastDelivered = await sql<{ at: Date }>`select max(delivered_at) as at from webhooks.deliveries
      where org_id = 'org_flaky'`.execute(testDb.db)
    expect(lastDelivered.rows[0]?.at.getTime() ?? 0).toBeLessThan(recoversAt + 30_000)

    const { rows: attempts } = await sql<Attempt>`select delivery_id, attempt_no, started_at, outcome
      from webhooks.attempts where org_id = 'org_flaky' order by delivery_id, attempt_no`.execute(testDb.db)
    const failed = attempts.filter((a) => a.outcome === 'retrying')
    // One request at a time while it hung: probes, spaced by a timeout and a pause each.
    expect(failed.length).toBeGreaterThan(0)
    expect(failed.length).toBeLessThanOrEqual(HANG_MS / REQUEST_TIMEOUT_MS)
    expect(failed.every((a) => a.started_at.getTime() < recoversAt)).toBe(true)
    // Every delivery's attempts keep at least the schedule's step apart; none was dropped.
    for (const [i, attempt] of attempts.entries()) {
      const next = attempts[i + 1]
      if (next?.delivery_id === attempt.delivery_id) {
        const step = SCHEDULE_MS[attempt.attempt_no - 1] ?? Number.POSITIVE_INFINITY
        expect(next.started_at.getTime() - attempt.started_at.getTime()).toBeGreaterThanOrEqual(step)
      }
    }
    expect(attempts.filter((a) => a.outcome === 'delivered')).toHaveLength(EVENTS)
    expect(attempts.some((a) => a.outcome === 'dropped')).toBe(false)
  }, 240_000)
})
