import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'
import type { Gate } from './fixtures.ts'
import { attemptsOf, deliveryOf, giveOrgASecret, leftLocked, recordCompleted, startGate } from './fixtures.ts'

let testDb: TestDb
const gates: Gate[] = []
let survivor: WorkerHandle | undefined

beforeAll(async () => {
  testDb = await createTestDatabase()
  await giveOrgASecret(testDb)
})

afterAll(async () => {
  await disposeChildren()
  await survivor?.stop()
  await Promise.all(gates.map((gate) => gate.close()))
  await testDb?.drop()
})

/** A child worker with one request held open by `gate`, about to be told to stop. */
async function workerWithRequestInFlight(env: Record<string, string>) {
  const gate = await startGate()
  gates.push(gate)
  const worker = spawnWorker(testDb, { WEBHOOK_REQUEST_TIMEOUT: '20s', ...env })
  await workerStarted(worker)
  const eventId = await recordCompleted(testDb, gate.url)
  await vi.waitFor(() => expect(gate.held).toBe(1), { timeout: 10_000 })
  // graphile-worker jobs running around the stop must not be left locked either.
  await sql`select graphile_worker.add_job('reconcile') from generate_series(1, 3)`.execute(testDb.db)
  return { gate, worker, eventId }
}

describe('a graceful stop (SIGTERM)', () => {
  it('lets a slow request finish within the shutdown timeout, records it, exits 0 and leaves nothing locked', async () => {
    const { gate, worker, eventId } = await workerWithRequestInFlight({ WEBHOOK_SHUTDOWN_TIMEOUT: '10s' })
    worker.process.kill('SIGTERM')
    await vi.waitFor(() => expect(worker.output()).toContain('"msg":"stopping gracefully"'))
    gate.open(200)

    expect(await worker.exited).toBe(0)
    expect(worker.output()).toContain('"msg":"worker stopped"')
    expect((await deliveryOf(testDb, eventId)).status).toBe('delivered')
    expect((await attemptsOf(testDb, eventId)).map((a) => [a.attempt_no, a.outcome])).toEqual([
      [1, 'delivered'],
    ])
    expect(await leftLocked(testDb)).toEqual({ jobs: 0, inFlight: 0 })
  })

  it('aborts a request that outlasts the shutdown timeout, records it as lost and leaves the delivery due at once', async () => {
    const { gate, worker, eventId } = await workerWithRequestInFlight({ WEBHOOK_SHUTDOWN_TIMEOUT: '300ms' })
    const stoppedAt = Date.now()
    worker.process.kill('SIGTERM')

    expect(await worker.exited).toBe(0)
    expect(Date.now() - stoppedAt).toBeLessThan(10_000)
    const delivery = await deliveryOf(testDb, eventId)
    expect(delivery.status).toBe('pending')
    expect(delivery.failures).toBe(0)
    expect(delivery.next_attempt_at?.getTime()).toBeLessThanOrEqual(Date.now())
    expect((await attemptsOf(testDb, eventId)).map((a) => [a.attempt_no, a.outcome, a.error_code])).toEqual([
      [1, 'lost', 'aborted'],
    ])
    expect(await leftLocked(testDb)).toEqual({ jobs: 0, inFlight: 0 })

    // The next worker sends it again, with the same delivery id, without waiting for a schedule step.
    gate.open(200)
    survivor = await startTestWorker(testDb)
    await vi.waitFor(async () => expect((await deliveryOf(testDb, eventId)).status).toBe('delivered'), {
      timeout: 10_000,
    })
    expect((await attemptsOf(testDb, eventId)).map((a) => [a.attempt_no, a.outcome])).toEqual([
      [1, 'lost'],
      [2, 'delivered'],
    ])
  })

  it('sends nothing new once stop() has come, even when it came in the middle of a pass', async () => {
    // The only worker on the database: the previous test's would take the event.
    await survivor?.stop()
    survivor = undefined
    const gate = await startGate()
    gates.push(gate)
    const worker = await startTestWorker(testDb, { WEBHOOK_SHUTDOWN_TIMEOUT: '300ms' })
    // Hold the dispatcher's fan-out on a lock, so that stop() arrives while its pass is under way:
    // with deliveries locked, an event recorded now is found by the fan-out, which then waits to
    // make its delivery.
    const blocker = new pg.Client({ connectionString: testDb.url })
    await blocker.connect()
    try {
      const blocked = async () => {
        const { rows } = await sql<{ query: string }>`select query from pg_stat_activity
          where datname = current_database() and application_name = 'imtegrate-webhooks'
            and wait_event_type = 'Lock'`.execute(testDb.db)
        return rows.map((row) => row.query)
      }
      await blocker.query('begin')
      await blocker.query('lock table webhooks.deliveries in share row exclusive mode')
      const eventId = await recordCompleted(testDb, gate.url)
      await vi.waitFor(
        async () => expect(await blocked()).toEqual([expect.stringContaining('webhooks.fan_out')]),
        {
          timeout: 10_000,
          interval: 5,
        },
      )
      const stopping = worker.stop()
      await blocker.query('commit')
      await stopping
      // Regression: the pass went on to claim and send the event's delivery after stop().
      expect(gate.held).toBe(0)
      expect(await attemptsOf(testDb, eventId)).toEqual([])
      expect((await deliveryOf(testDb, eventId)).status).toBe('pending')
    } finally {
      await blocker.end()
    }
  })
})
