import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { pruneTask } from '../../src/worker/retention.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startTestWorker } from '../helpers/worker.ts'

let testDb: TestDb

beforeEach(async () => {
  testDb = await createTestDatabase()
})

afterEach(async () => {
  await testDb?.drop()
})

const DAY = 86_400_000

/** `count` events made `days` ago, each with one delivered delivery and its attempt. */
async function seedSettled(days: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const at = new Date(Date.now() - days * DAY)
    const event = `evt_${at.getTime().toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`
    const delivery = `dlv_${randomBytes(8).toString('hex')}`
    await testDb.pool.query(
      `insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
       values ($1, 'org_keep', 'image.completed', $2, '{}', $3, $3)`,
      [event, `img_${randomBytes(6).toString('hex')}`, at],
    )
    await testDb.pool.query(
      `insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts, created_at, updated_at)
       values ($1, $2, 'org_keep', 'render_url', 'http://127.0.0.1:9/r', 'delivered', 1, $3, $3)`,
      [delivery, event, at],
    )
    await testDb.pool.query(
      `insert into webhooks.attempts (delivery_id, attempt_no, org_id, started_at, duration_ms, outcome)
       values ($1, 1, 'org_keep', $2, 5, 'delivered')`,
      [delivery, at],
    )
  }
}

async function eventCount(): Promise<number> {
  const { rows } = await testDb.pool.query<{ n: number }>('select count(*)::int as n from webhooks.events')
  return rows[0]?.n ?? -1
}

/** The task as graphile-worker runs it; only abortSignal is used. */
async function runPruneTask(retentionMs: number, signal: AbortSignal): Promise<void> {
  const task = pruneTask(testDb.db, createLogger('silent'), retentionMs)
  await task({}, { abortSignal: signal } as Parameters<typeof task>[1])
}

describe('WEBHOOK_RETENTION', () => {
  it('prunes the history past the window when the task runs, and nothing once shutdown began', async () => {
    await seedSettled(40, 3)
    await seedSettled(10, 2)
    const stopping = new AbortController()
    stopping.abort()
    await runPruneTask(30 * DAY, stopping.signal)
    expect(await eventCount()).toBe(5)
    await runPruneTask(30 * DAY, new AbortController().signal)
    expect(await eventCount()).toBe(2)
  })

  it("adds the hourly prune to the worker's crontab only when set", async () => {
    const known = async () => {
      const { rows } = await sql<{ identifier: string }>`
        select identifier from graphile_worker._private_known_crontabs order by identifier`.execute(testDb.db)
      return rows.map((row) => row.identifier)
    }
    const plain = await startTestWorker(testDb)
    await plain.stop()
    expect(await known()).toEqual(['reconcile'])
    const pruning = await startTestWorker(testDb, { WEBHOOK_RETENTION: '30d' })
    await pruning.stop()
    expect(await known()).toEqual(['prune', 'reconcile'])
  })
})
