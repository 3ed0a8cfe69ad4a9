import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'

const KEY = randomBytes(32).toString('base64')
const WARNING = 'WEBHOOK_SECRETS_KEY is not set: endpoint secrets are stored unencrypted (development only)'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await disposeChildren()
  await testDb?.drop()
})

async function startAndStop(env: Record<string, string>): Promise<string> {
  const worker = spawnWorker(testDb, env)
  await workerStarted(worker)
  worker.process.kill('SIGTERM')
  expect(await worker.exited).toBe(0)
  return worker.output()
}

describe('starting a worker', () => {
  it('without WEBHOOK_SECRETS_KEY warns that secrets are stored unencrypted', async () => {
    const lines = (await startAndStop({})).split('\n').filter((line) => line.includes(WARNING))
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ level: 40, msg: WARNING })
  })

  it('stops gracefully on a SIGTERM that arrives while it is still starting', async () => {
    // Regression: the handlers were installed once the worker ran, so a SIGTERM during start-up
    // killed the process mid-way (and, with the embedded database, left its server running).
    const worker = spawnWorker(testDb, {})
    await vi.waitFor(() => expect(worker.output()).toContain(WARNING), { timeout: 20_000, interval: 5 })
    worker.process.kill('SIGTERM')
    expect(await worker.exited, worker.output()).toBe(0)
    expect(worker.output()).toContain('"msg":"worker stopped"')
  })

  it('exits 1 when its start fails after graphile-worker started, leaving nothing running', async () => {
    // Regression: registering the pool failed after graphile-worker and the pool were up; they
    // were left running, so the process never exited (and one SIGTERM did not end it).
    await testDb.pool.query(`
      create function public.refuse_pool() returns trigger language plpgsql as $$
      begin raise exception 'registration refused'; end $$;
      create trigger refuse_pool before insert on webhooks.worker_pools
        for each row execute function public.refuse_pool()`)
    try {
      const worker = spawnWorker(testDb, {})
      expect(await worker.exited, worker.output()).toBe(1)
      expect(worker.output()).toMatch(/^error: registration refused \(P0001\)$/m)
    } finally {
      await testDb.pool.query(
        `drop trigger refuse_pool on webhooks.worker_pools; drop function public.refuse_pool()`,
      )
    }
  }, 30_000)

  it('with WEBHOOK_SECRETS_KEY does not warn', async () => {
    expect(await startAndStop({ WEBHOOK_SECRETS_KEY: KEY })).not.toContain(WARNING)
  })

  it('with NODE_ENV=production and no WEBHOOK_SECRETS_KEY refuses to start (exit 1) and says why', async () => {
    const worker = spawnWorker(testDb, { NODE_ENV: 'production' })
    expect(await worker.exited).toBe(1)
    expect(worker.output()).toContain('invalid WEBHOOK_SECRETS_KEY: is required when NODE_ENV=production')
    expect(worker.output()).not.toContain('worker started')
  })

  it('with NODE_ENV=production and a key configures encryption', () => {
    expect(loadConfig({ NODE_ENV: 'production', WEBHOOK_SECRETS_KEY: KEY }).secretsKey).toBe(KEY)
    expect(() => loadConfig({ NODE_ENV: 'production', WEBHOOK_SECRETS_KEY_PREVIOUS: KEY })).toThrow(
      /WEBHOOK_SECRETS_KEY: is required/,
    )
  })
})

describe('WEBHOOK_LEASE_MARGIN', () => {
  it('defaults to 30 s and takes a duration', () => {
    expect(loadConfig({}).leaseMarginMs).toBe(30_000)
    expect(loadConfig({ WEBHOOK_LEASE_MARGIN: '250ms' }).leaseMarginMs).toBe(250)
  })

  it.each(['0s', '50ms', '30', '-1s', '11m'])('refuses %j with a message naming it', (value) => {
    expect(() => loadConfig({ WEBHOOK_LEASE_MARGIN: value })).toThrow(/^invalid WEBHOOK_LEASE_MARGIN: /)
  })
  it('warns at start-up when it is not longer than DATABASE_QUERY_TIMEOUT', async () => {
    const warning = 'WEBHOOK_LEASE_MARGIN is not longer than DATABASE_QUERY_TIMEOUT'
    const short = (await startAndStop({ WEBHOOK_LEASE_MARGIN: '2s', DATABASE_QUERY_TIMEOUT: '2s' }))
      .split('\n')
      .filter((line) => line.includes(warning))
    expect(short).toHaveLength(1)
    expect(JSON.parse(short[0] ?? '{}')).toMatchObject({
      level: 40,
      leaseMarginMs: 2_000,
      queryTimeoutMs: 2_000,
    })
    expect(await startAndStop({ WEBHOOK_LEASE_MARGIN: '3s', DATABASE_QUERY_TIMEOUT: '2s' })).not.toContain(
      warning,
    )
  })
})
