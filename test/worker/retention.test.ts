import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { createDb } from '../../src/store/database.ts'
import { pruneTask } from '../../src/worker/retention.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { ago, DAY, seedEvent } from '../helpers/settled-history.ts'
import { startTestWorker } from '../helpers/worker.ts'

let testDb: TestDb

beforeEach(async () => {
  testDb = await createTestDatabase()
})

afterEach(async () => {
  await testDb?.drop()
})

async function eventCount(): Promise<number> {
  const { rows } = await testDb.pool.query<{ n: number }>('select count(*)::int as n from webhooks.events')
  return rows[0]?.n ?? -1
}

/** The task as graphile-worker runs it; only abortSignal is used. */
async function runPruneTask(retentionMs: number, signal: AbortSignal, db = testDb.db): Promise<void> {
  const task = pruneTask(db, createLogger('silent'), retentionMs)
  await task({}, { abortSignal: signal } as Parameters<typeof task>[1])
}

describe('WEBHOOK_RETENTION', () => {
  it('prunes the history past the window when the task runs, and nothing once shutdown began', async () => {
    for (const days of [40, 40, 40, 10, 10]) {
      await seedEvent(testDb, 'org_keep', ago(days), [{ status: 'delivered' }])
    }
    const stopping = new AbortController()
    stopping.abort()
    await runPruneTask(30 * DAY, stopping.signal)
    expect(await eventCount()).toBe(5)
    await runPruneTask(30 * DAY, new AbortController().signal)
    expect(await eventCount()).toBe(2)
  })

  it('gets past a batch that always outlasts the deadline by trying smaller ones', async () => {
    for (let i = 0; i < 12; i++) {
      await seedEvent(testDb, 'org_slow', ago(40), [{ status: 'delivered' }])
    }
    await seedEvent(testDb, 'org_slow', ago(10), [{ status: 'delivered' }])
    // Each deleted event costs 60 ms: 12 (the whole backlog, one default batch) take 720 ms,
    // past the 400 ms deadline every time; 3 take 180 ms.
    await testDb.pool.query(`
      create function public.slow_delete() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.06); return old; end $$;
      create trigger slow_delete before delete on webhooks.events for each row execute function public.slow_delete()`)
    // Shares the test pool, which drop() ends.
    await runPruneTask(30 * DAY, new AbortController().signal, createDb(testDb.pool, 400))
    expect(await eventCount()).toBe(1)
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
