import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import type { TcpProxy } from '../helpers/tcp-proxy.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from './fixtures.ts'

const QUERY_TIMEOUT_MS = 500

let testDb: TestDb
let receiver: Receiver
let proxy: TcpProxy
let worker: WorkerHandle

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  await giveOrgASecret(testDb)
  proxy = await startTcpProxy(testDb.url)
  // The worker reaches PostgreSQL through the proxy; the test's own connections do not.
  worker = await startTestWorker(
    { ...testDb, url: proxy.via(testDb.url) },
    { DATABASE_QUERY_TIMEOUT: `${QUERY_TIMEOUT_MS}ms` },
  )
})

afterAll(async () => {
  // Closing the proxy first breaks the silent connections, so the worker can stop.
  await proxy?.close()
  await worker?.stop()
  await receiver?.close()
  await testDb?.drop()
})

const delivered = (eventId: string, timeout: number) =>
  vi.waitFor(async () => expect((await deliveryOf(testDb, eventId)).status).toBe('delivered'), {
    timeout,
    interval: 50,
  })

describe('a worker whose database connections go silent', () => {
  it('drops them after DATABASE_QUERY_TIMEOUT and goes on delivering over new ones', async () => {
    await delivered(await recordCompleted(testDb, receiver.url('/before')), 10_000)
    // Regression: a statement sent into a silent connection waited forever (until TCP gave up,
    // minutes later), and the dispatcher with it, while the worker looked alive.
    expect(proxy.freeze()).toBeGreaterThan(0)
    const eventId = await recordCompleted(testDb, receiver.url('/after'))
    // Each pooled connection costs at most one deadline before it is dropped.
    await delivered(eventId, 20 * QUERY_TIMEOUT_MS + 5_000)
    expect(receiver.requests.filter((r) => r.path === '/after')).toHaveLength(1)
  })
  it('listens again on a new connection when the listening one goes silent', async () => {
    // It raises no error: the listener notices by probing it, every five seconds.
    const frozenAt = new Date()
    proxy.freeze()
    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where application_name = 'imtegrate-webhooks' and datname = current_database()
            and query = 'listen webhooks_outbox' and backend_start > ${frozenAt}`.execute(testDb.db)
        expect(rows[0]?.n).toBe(1)
        // The silent one's backend was ended, not left behind.
        const all = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where application_name = 'imtegrate-webhooks' and datname = current_database()
            and query = 'listen webhooks_outbox'`.execute(testDb.db)
        expect(all.rows[0]?.n).toBe(1)
      },
      { timeout: 5_000 + 4 * QUERY_TIMEOUT_MS + 5_000, interval: 200 },
    )
  })
})
