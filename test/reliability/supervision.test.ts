import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'
import { attemptsOf, deliveryOf, giveOrgASecret, recordCompleted } from './fixtures.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await disposeChildren()
  await testDb?.drop()
})

describe('a worker whose graphile-worker pool dies', () => {
  it('exits 1 for its supervisor, and keeps its pool row so the reconciler frees the stranded job', async () => {
    const worker = spawnWorker(testDb)
    await workerStarted(worker)
    // graphile-worker cannot complete a job whose row refuses deletion: its pool shuts itself
    // down ("queue is in an inconsistent state"), and runner.promise resolves instead of rejecting.
    await sql`create function public.refuse_completion() returns trigger language plpgsql as $$
      begin raise exception 'completion refused by the test'; end $$`.execute(testDb.db)
    await sql`create trigger refuse_completion before delete on graphile_worker._private_jobs
      for each row execute function public.refuse_completion()`.execute(testDb.db)
    await sql`select graphile_worker.add_job('reconcile')`.execute(testDb.db)

    expect(await worker.exited, worker.output()).toBe(1)
    expect(worker.output()).toContain('"msg":"worker failed"')
    expect(worker.output()).toContain('error: the worker stopped: graphile-worker stopped unexpectedly')

    const { rows } = await sql<{ locked_by: string }>`
      select locked_by from graphile_worker.jobs where locked_by is not null`.execute(testDb.db)
    expect(rows).toHaveLength(1)
    const pools = await testDb.db.selectFrom('webhooks.worker_pools').select('id').execute()
    expect(pools.map((p) => p.id)).toEqual([rows[0]?.locked_by])
    await sql`drop trigger refuse_completion on graphile_worker._private_jobs`.execute(testDb.db)
  })
})

describe('a worker told to stop while the database refuses its writes', () => {
  it('gives up recording after a bound instead of hanging, and the delivery is made again later', async () => {
    const receiver = await startReceiver()
    try {
      await giveOrgASecret(testDb)
      // Refused as a standby refuses writes (read-only transaction): about the database, not a row.
      await sql`create function public.refuse_attempts() returns trigger language plpgsql as $$
        begin raise exception using errcode = '25006', message = 'attempt log refused by the test'; end $$`.execute(
        testDb.db,
      )
      await sql`create trigger refuse_attempts before insert on webhooks.attempts
        for each row execute function public.refuse_attempts()`.execute(testDb.db)
      const worker = spawnWorker(testDb, { WEBHOOK_SHUTDOWN_TIMEOUT: '500ms' })
      await workerStarted(worker)
      const eventId = await recordCompleted(testDb, receiver.url('/unrecorded'))
      await vi.waitFor(() => expect(worker.output()).toContain('could not record attempts; retrying'), {
        timeout: 10_000,
      })

      worker.process.kill('SIGTERM')
      expect(await worker.exited).toBe(0)
      expect(worker.output()).toContain('stopping without recording some attempts')
      expect((await deliveryOf(testDb, eventId)).status).toBe('in_flight')

      await sql`drop trigger refuse_attempts on webhooks.attempts`.execute(testDb.db)
      const survivor = await startTestWorker(testDb)
      try {
        await vi.waitFor(async () => expect((await deliveryOf(testDb, eventId)).status).toBe('delivered'), {
          timeout: 10_000,
        })
      } finally {
        await survivor.stop()
      }
      expect((await attemptsOf(testDb, eventId)).map((a) => [a.attempt_no, a.outcome])).toEqual([
        [1, 'lost'],
        [2, 'delivered'],
      ])
    } finally {
      await receiver.close()
    }
  })
})
