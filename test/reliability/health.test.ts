import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { createPool } from '../../src/store/database.ts'
import { MIGRATION_LOCK, migrate } from '../../src/store/migrate.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { freePort } from '../helpers/metrics.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import type { TcpProxy } from '../helpers/tcp-proxy.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { disposeChildren, spawnWorker } from './child-worker.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from './fixtures.ts'

type Probe = {
  status: number
  body: { status: string; checks: Record<string, { ok: boolean; detail?: string }> }
}

/** GET a health endpoint; `tookMs` is how long the answer took. */
async function probe(url: string): Promise<Probe & { tookMs: number }> {
  const started = performance.now()
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  const body = (await response.json()) as Probe['body']
  return { status: response.status, body, tookMs: performance.now() - started }
}

describe('/healthz and /readyz of a worker whose database stops and comes back', () => {
  let testDb: TestDb
  let receiver: Receiver
  let proxy: TcpProxy
  let worker: WorkerHandle
  let settled = false
  const url = (path: string) => `${worker.monitorUrl}${path}`

  beforeAll(async () => {
    testDb = await createTestDatabase()
    receiver = await startReceiver()
    await giveOrgASecret(testDb)
    proxy = await startTcpProxy(testDb.url)
    // The worker reaches PostgreSQL through the proxy; the test's own connections do not.
    worker = await startTestWorker(
      { ...testDb, url: proxy.via(testDb.url) },
      { WEBHOOK_METRICS_PORT: '0', DATABASE_QUERY_TIMEOUT: '2s' },
    )
    const mark = () => {
      settled = true
    }
    worker.done.then(mark, mark)
  })

  afterAll(async () => {
    await proxy?.resume().catch(() => undefined)
    await worker?.stop()
    await proxy?.close()
    await receiver?.close()
    await testDb?.drop()
  })

  it('answers healthy and ready while the worker runs', async () => {
    const health = await probe(url('/healthz'))
    expect(health.status).toBe(200)
    expect(health.body).toEqual({
      status: 'ok',
      checks: { dispatcher: { ok: true }, database: { ok: true } },
    })
    const ready = await probe(url('/readyz'))
    expect(ready.status, JSON.stringify(ready.body)).toBe(200)
  })

  it('answers within a second when the database goes silent', async () => {
    expect(proxy.freeze()).toBeGreaterThan(0)
    // The probe's pooled connection is frozen (or, if it got a new one, answers at once).
    const health = await probe(url('/healthz'))
    expect(health.tookMs).toBeLessThan(1_000)
    if (health.status === 503) {
      expect(health.body.checks['database']).toEqual({
        ok: false,
        detail: 'no answer from PostgreSQL within 900 ms',
      })
    }
    // Once DATABASE_QUERY_TIMEOUT dropped the silent connections, it is healthy again.
    await vi.waitFor(async () => expect((await probe(url('/healthz'))).status).toBe(200), {
      timeout: 15_000,
      interval: 200,
    })
  })

  it('turns unhealthy and unready when the database stops, answering within a second', async () => {
    await proxy.stop()
    const answers: number[] = []
    await vi.waitFor(
      async () => {
        const health = await probe(url('/healthz'))
        answers.push(health.tookMs)
        expect(health.status).toBe(503)
        expect(health.body.checks['database']?.ok).toBe(false)
        expect(health.body.checks['dispatcher']?.ok).toBe(true)
      },
      { timeout: 10_000, interval: 100 },
    )
    const ready = await probe(url('/readyz'))
    answers.push(ready.tookMs)
    expect(ready.status).toBe(503)
    expect(ready.body.checks['database']?.ok).toBe(false)
    expect(Math.max(...answers)).toBeLessThan(1_000)
  })

  it('is healthy and ready again when the database returns, without a restart, and delivers', async () => {
    await proxy.resume()
    await vi.waitFor(
      async () => {
        expect((await probe(url('/healthz'))).status).toBe(200)
        expect((await probe(url('/readyz'))).status).toBe(200)
      },
      { timeout: 20_000, interval: 200 },
    )
    expect(settled).toBe(false)
    const eventId = await recordCompleted(testDb, receiver.url('/after-outage'))
    await vi.waitFor(async () => expect((await deliveryOf(testDb, eventId)).status).toBe('delivered'), {
      timeout: 10_000,
      interval: 100,
    })
  })
})

describe('/readyz of a worker started while migrate runs', () => {
  let emptyDb: TestDb
  let migrator: pg.Pool | undefined
  afterAll(async () => {
    await disposeChildren()
    await migrator?.end().catch(() => undefined)
    await emptyDb?.drop()
  })

  it('is not ready until the migrations ran, then ready (metrics on by environment alone)', async () => {
    emptyDb = await createTestDatabase({ empty: true })
    // A migrator of one connection holds the migration lock: the worker, which migrates nothing
    // itself, waits for it before checking the schema. Session locks nest, so the same connection
    // then migrates and lets go.
    migrator = createPool(emptyDb.url, 1)
    await migrator.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    const port = await freePort()
    const worker = spawnWorker(emptyDb, { WEBHOOK_METRICS_PORT: String(port) })
    const base = `http://127.0.0.1:${port}`
    await vi.waitFor(
      async () => {
        const ready = await probe(`${base}/readyz`)
        expect(ready.status).toBe(503)
        expect(ready.body.checks['migrations']).toEqual({
          ok: false,
          detail: expect.stringMatching(/^migration \d+ is needed, the database has none$/),
        })
      },
      { timeout: 20_000, interval: 100 },
    )
    const health = await probe(`${base}/healthz`)
    expect(health.status).toBe(503)
    expect(health.body.checks['dispatcher']).toEqual({ ok: false, detail: 'not started' })

    await migrate(migrator, createLogger('silent'))
    await migrator.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK])
    await vi.waitFor(
      async () => {
        const ready = await probe(`${base}/readyz`)
        expect(ready.status, JSON.stringify(ready.body)).toBe(200)
      },
      { timeout: 20_000, interval: 100 },
    )
    expect((await probe(`${base}/healthz`)).status).toBe(200)
    worker.process.kill('SIGTERM')
    expect(await worker.exited, worker.output()).toBe(0)
  })
})
