import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import type { ChildWorker } from './child-worker.ts'
import { spawnWorker, workerStarted } from './child-worker.ts'
import { deliveryOf, giveOrgASecret, leftLocked, recordCompleted } from './fixtures.ts'

let testDb: TestDb
let receiver: Receiver
let worker: ChildWorker

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  await giveOrgASecret(testDb)
  worker = spawnWorker(testDb)
  await workerStarted(worker)
})

afterAll(async () => {
  await worker?.dispose()
  await receiver?.close()
  await testDb?.drop()
})

/** Cuts every connection the worker holds, the way a database restart or a failover does. */
async function terminateWorkerBackends(): Promise<number> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ pid: number }>(
      `select pid from pg_stat_activity
       where application_name = 'imtegrate-webhooks' and datname = $1 and pid <> pg_backend_pid()`,
      [new URL(testDb.url).pathname.slice(1)],
    )
    for (const { pid } of rows) {
      await admin.query('select pg_terminate_backend($1)', [pid])
    }
    return rows.length
  } finally {
    await admin.end()
  }
}

/** Whether the worker's dispatcher holds a connection listening for wake-ups. */
async function dispatcherListens(): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
    where application_name = 'imtegrate-webhooks' and datname = current_database()
      and query = 'listen webhooks_outbox'`.execute(testDb.db)
  return (rows[0]?.n ?? 0) > 0
}

/** The worker either carries on (reconnected) or has exited non-zero for its supervisor: never hangs. */
async function deliveredOrExitedNonZero(eventId: string): Promise<'delivered' | 'exited'> {
  let outcome: 'delivered' | 'exited' | undefined
  await vi.waitFor(
    async () => {
      if (worker.process.exitCode !== null || worker.process.signalCode !== null) {
        outcome = 'exited'
        return
      }
      expect((await deliveryOf(testDb, eventId)).status).toBe('delivered')
      outcome = 'delivered'
    },
    { timeout: 15_000, interval: 100 },
  )
  if (outcome === 'exited') {
    expect(await worker.exited).not.toBe(0)
  }
  return outcome ?? 'exited'
}

describe('a worker whose database connections are all cut', () => {
  it('reconnects and keeps delivering, every time', async () => {
    for (let round = 1; round <= 3; round++) {
      expect(await terminateWorkerBackends()).toBeGreaterThan(0)
      const eventId = await recordCompleted(testDb, receiver.url(`/after-cut-${round}`))
      expect(await deliveredOrExitedNonZero(eventId), worker.output()).toBe('delivered')
      // Polling delivered it; the LISTEN connection that makes idle workers react at once is back too.
      await vi.waitFor(async () => expect(await dispatcherListens()).toBe(true), { timeout: 5_000 })
    }
  })

  it('still stops gracefully afterwards, leaving nothing locked', async () => {
    worker.process.kill('SIGTERM')
    expect(await worker.exited, worker.output()).toBe(0)
    expect(await leftLocked(testDb)).toEqual({ jobs: 0, inFlight: 0 })
  })
})
