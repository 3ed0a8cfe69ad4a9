import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { createPool } from '../../src/store/database.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { startWorker } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { TcpProxy } from '../helpers/tcp-proxy.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

let testDb: TestDb
let proxy: TcpProxy
let worker: WorkerHandle
/** Set: the route goes silent as the next LISTEN is sent. */
let silenceNextListen = false

beforeAll(async () => {
  testDb = await createTestDatabase()
  proxy = await startTcpProxy(testDb.url)
  const url = proxy.via(testDb.url)
  const config = loadConfig({
    WEBHOOK_POLL_INTERVAL: '100ms',
    DATABASE_QUERY_TIMEOUT: '500ms',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
  })
  const pool = createPool(url, config.poolSize)
  pool.on('acquire', (client: pg.PoolClient) => {
    const send = client.query.bind(client) as (...args: unknown[]) => unknown
    Object.assign(client, {
      query: (...args: unknown[]) => {
        const answer = send(...args)
        if (silenceNextListen && args[0] === 'listen webhooks_outbox') {
          silenceNextListen = false
          proxy.freeze()
        }
        return answer
      },
    })
  })
  worker = await startWorker({ ...config, databaseUrl: url }, createLogger(config.logLevel), pool)
})

afterAll(async () => {
  await proxy?.close()
  await worker?.stop()
  await testDb?.drop()
})

async function heartbeatAgeMs(): Promise<number> {
  const { rows } = await sql<{ age: number }>`
    select extract(epoch from clock_timestamp() - heartbeat_at) * 1000 as age
    from webhooks.worker_pools where id = ${worker.poolId}`.execute(testDb.db)
  return Number(rows[0]?.age ?? Number.POSITIVE_INFINITY)
}

describe('a worker whose new LISTEN connection goes silent', () => {
  it('keeps its heartbeat', async () => {
    await sleep(1_000)
    expect(await heartbeatAgeMs()).toBeLessThan(1_500)
    silenceNextListen = true
    // The listening backend ends (a restart of it): the listener makes a new connection.
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = 'imtegrate-webhooks'
        and query = 'listen webhooks_outbox'`.execute(testDb.db)
    await sleep(4_000)
    expect(silenceNextListen).toBe(false)
    // Regression: the heartbeat waited for that LISTEN, and every later beat waited behind it;
    // after a minute other workers would have declared this one dead.
    expect(await heartbeatAgeMs()).toBeLessThan(1_500)
  })
})
