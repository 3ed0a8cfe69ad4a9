import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { createServer } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { pendingMigrations, readMigrations } from '../../src/store/migrate.ts'
import { startWorker } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { disposeChildren, spawnCli, spawnWorker } from './child-worker.ts'

// The worker command given a database it cannot use ends as every other command does: one line
// naming the problem, exit 1. Regression: each of these ended in an uncaught pg-pool stack
// trace, and an unmigrated database had both schemas installed in it by the worker's start.

let testDb: TestDb
const bare = `iwt_${process.pid}_bare_${randomBytes(4).toString('hex')}`
const bareUrl = new URL(inject('adminUrl'))
bareUrl.pathname = `/${bare}`

async function admin<T extends pg.QueryResultRow>(query: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: inject('adminUrl') })
  await client.connect()
  try {
    return (await client.query<T>(query)).rows
  } finally {
    await client.end()
  }
}

beforeAll(async () => {
  testDb = await createTestDatabase()
  await admin(`create database ${pg.escapeIdentifier(bare)}`)
})

afterAll(async () => {
  await disposeChildren()
  await testDb?.drop()
  await admin(`drop database if exists ${pg.escapeIdentifier(bare)} with (force)`)
})

/** Runs the worker command with `databaseUrl`; returns its exit code and what it printed. */
async function startWith(databaseUrl: string, env: Record<string, string> = {}) {
  const worker = spawnCli(['worker'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', ...env })
  const code = await worker.exited
  // Log lines are JSON; the rest is what a person reads.
  const lines = worker
    .output()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
  return { code, lines, output: worker.output() }
}

describe('the worker command given a database it cannot use', () => {
  it('says in one line that the server does not offer the TLS that sslmode=require asks for', async () => {
    const url = new URL(testDb.url)
    url.searchParams.set('sslmode', 'require')
    const { code, lines, output } = await startWith(url.toString(), { NODE_OPTIONS: '--no-warnings' })
    expect(code, output).toBe(1)
    expect(lines).toEqual(['error: cannot use the database: The server does not support SSL connections'])
  })

  it('refuses an sslmode pg does not know, naming the variable, before connecting', async () => {
    const url = new URL(testDb.url)
    url.searchParams.set('sslmode', 'bogus')
    const { code, lines } = await startWith(url.toString())
    expect(code).toBe(1)
    expect(lines).toEqual([
      'error: invalid DATABASE_URL: has sslmode=bogus; use one of disable, prefer, require, verify-ca, verify-full, no-verify',
    ])
  })

  it('gives up on a listener that never answers within DATABASE_QUERY_TIMEOUT, in one line', async () => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => sockets.add(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as { port: number }
      const started = Date.now()
      const { code, lines, output } = await startWith(`postgres://postgres@127.0.0.1:${port}/none`, {
        DATABASE_QUERY_TIMEOUT: '500ms',
      })
      expect(code, output).toBe(1)
      expect(lines).toEqual([
        'error: cannot use the database: Connection terminated due to connection timeout',
      ])
      expect(sockets.size).toBeGreaterThan(0)
      // Bounded by the timeout, not by the pool's 30 s.
      expect(Date.now() - started).toBeLessThan(20_000)
    } finally {
      for (const socket of sockets) {
        socket.destroy()
      }
      server.close()
    }
  })

  it('refuses an unmigrated database, says to run migrate, and creates nothing in it', async () => {
    const { code, lines, output } = await startWith(bareUrl.toString())
    expect(code, output).toBe(1)
    expect(lines).toEqual([
      expect.stringMatching(
        /^error: the database is not migrated \(pending: graphile-worker's schema \(revision \d+, found none\), 0001_outbox\.sql and \d+ more\); run `imtegrate-webhooks migrate` first$/,
      ),
    ])
    const client = new pg.Client({ connectionString: bareUrl.toString() })
    await client.connect()
    try {
      const { rows } = await client.query(
        "select nspname from pg_namespace where nspname in ('webhooks', 'graphile_worker')",
      )
      expect(rows).toEqual([])
    } finally {
      await client.end()
    }
  })

  it('starts on a migrated database, as before', async () => {
    const worker = spawnWorker(testDb, { WEBHOOK_SHUTDOWN_TIMEOUT: '100ms' })
    await expect
      .poll(() => worker.output(), { timeout: 20_000, interval: 50 })
      .toContain('"msg":"worker started"')
    worker.process.kill('SIGTERM')
    expect(await worker.exited, worker.output()).toBe(0)
  })
})

describe('a worker started on a database that migrate has not brought up to date', () => {
  const config = loadConfig({ LOG_LEVEL: 'silent' })
  const start = (db: TestDb) =>
    startWorker({ ...config, databaseUrl: db.url }, createLogger('silent'), undefined)

  it('names the migration file it lacks', async () => {
    const db = await createTestDatabase()
    try {
      const newest = (await readMigrations()).at(-1)
      await db.pool.query('delete from webhooks.migrations where id = $1', [newest?.id])
      await expect(start(db)).rejects.toMatchObject({
        code: 'SCHEMA_NOT_MIGRATED',
        message: `the database is not migrated (pending: ${newest?.name}); run \`imtegrate-webhooks migrate\` first`,
      })
    } finally {
      await db.drop()
    }
  })

  it("names graphile-worker's schema when it is older than the installed package's", async () => {
    const db = await createTestDatabase()
    try {
      const { rows } = await db.pool.query<{ id: number }>(
        'delete from graphile_worker.migrations where id = (select max(id) from graphile_worker.migrations) returning id',
      )
      const revision = rows[0]?.id ?? 0
      expect(await pendingMigrations(db.pool)).toEqual([
        `graphile-worker's schema (revision ${revision}, found ${revision - 1})`,
      ])
      await expect(start(db)).rejects.toMatchObject({ code: 'SCHEMA_NOT_MIGRATED' })
      // Nothing was applied in its place: the start refused before graphile-worker ran.
      const after = await db.pool.query('select 1 from graphile_worker.migrations where id = $1', [revision])
      expect(after.rowCount).toBe(0)
    } finally {
      await db.drop()
    }
  })

  it('finds nothing pending on a migrated database', async () => {
    expect(await pendingMigrations(testDb.pool)).toEqual([])
  })
})
