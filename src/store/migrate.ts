import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { runMigrations } from 'graphile-worker'
import type pg from 'pg'
import { WebhookError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { workerLogger } from '../logger.ts'

const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url)
/** Any constant shared by every migrator; two processes migrating at once take turns on it. */
export const MIGRATION_LOCK = 7_291_004_311

type Migration = { id: number; name: string; sql: string; checksum: string }

export async function readMigrations(): Promise<Migration[]> {
  const names = (await readdir(MIGRATIONS_DIR)).filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name)).sort()
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(new URL(name, MIGRATIONS_DIR), 'utf8')
      return {
        id: Number(name.slice(0, 4)),
        name,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      }
    }),
  )
}

export type MigrateOptions = {
  /**
   * Apply the migrations numbered up to this one only, leaving the database at an older schema
   * (to test an upgrade from it). Default: all of them.
   */
  upTo?: number
}

/**
 * Installs graphile-worker's schema, then applies `migrations/*.sql` in order, each in its own
 * transaction. Safe to run twice and from several processes at once (an advisory lock
 * serializes them). Refuses to run if an applied migration's file was edited afterwards.
 * Returns the names of the migrations it applied.
 *
 * @example await migrate(pool, logger) // everything
 * @example await migrate(pool, logger, { upTo: 12 }) // the schema of 0012, to test an upgrade from it
 */
export async function migrate(
  pool: pg.Pool,
  logger: Logger,
  options: MigrateOptions = {},
): Promise<string[]> {
  await runMigrations({ pgPool: pool, logger: workerLogger(logger) })
  const { upTo = Number.POSITIVE_INFINITY } = options
  const migrations = (await readMigrations()).filter((migration) => migration.id <= upTo)
  const client = await pool.connect()
  const applied: string[] = []
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    await client.query(`create schema if not exists webhooks;
      create table if not exists webhooks.migrations (
        id integer primary key, name text not null, checksum text not null,
        applied_at timestamptz not null default now())`)
    const { rows } = await client.query<{ id: number; name: string; checksum: string }>(
      'select id, name, checksum from webhooks.migrations',
    )
    const done = new Map(rows.map((row) => [row.id, row]))
    for (const migration of migrations) {
      const previous = done.get(migration.id)
      if (previous) {
        if (previous.checksum !== migration.checksum) {
          throw new WebhookError(
            'INVALID_ARGUMENT',
            `migration ${migration.name} was edited after it was applied; add a new migration instead`,
          )
        }
        continue
      }
      await client.query('begin')
      try {
        await client.query(migration.sql)
        await client.query('insert into webhooks.migrations (id, name, checksum) values ($1, $2, $3)', [
          migration.id,
          migration.name,
          migration.checksum,
        ])
        await client.query('commit')
      } catch (error) {
        await client.query('rollback')
        throw new WebhookError(
          'MIGRATION_FAILED',
          `migration ${migration.name} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        )
      }
      applied.push(migration.name)
      logger.info({ migration: migration.name }, 'migration applied')
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined)
    client.release()
  }
  return applied
}

/**
 * The number of graphile-worker's newest migration, as the installed package would apply it.
 * The package does not export its list, so it is read from the file that holds it; a layout
 * that changed with an upgrade fails loudly here (and in the tests) rather than guess.
 */
async function graphileWorkerRevision(): Promise<number> {
  const file = new URL('./generated/sql.js', import.meta.resolve('graphile-worker'))
  const { migrations } = (await import(file.href)) as { migrations?: Record<string, string> }
  const numbers = Object.keys(migrations ?? {}).map((name) => Number.parseInt(name, 10))
  if (numbers.length === 0 || numbers.some(Number.isNaN)) {
    throw new Error(`cannot read graphile-worker's migrations from ${file.pathname}`)
  }
  return Math.max(...numbers)
}

/**
 * What `migrate` would still do to this database: graphile-worker's schema (absent or older than
 * the installed package's) and the names of `migrations/*.sql` files not applied. Empty when the
 * database is up to date. Reads only; creates nothing. A migrate running meanwhile is waited for
 * (a shared hold of its lock), so a worker started during a deployment's migrate sees its result.
 */
export async function pendingMigrations(pool: pg.Pool): Promise<string[]> {
  const [revision, migrations] = await Promise.all([graphileWorkerRevision(), readMigrations()])
  const client = await pool.connect()
  try {
    await client.query('select pg_advisory_lock_shared($1)', [MIGRATION_LOCK])
    const { rows } = await client.query<{ worker: string | null; ours: string | null }>(
      `select to_regclass('graphile_worker.migrations')::text as worker,
              to_regclass('webhooks.migrations')::text as ours`,
    )
    const tables = rows[0]
    const pending: string[] = []
    const installed =
      tables?.worker == null
        ? 0
        : ((await client.query<{ id: number | null }>('select max(id) as id from graphile_worker.migrations'))
            .rows[0]?.id ?? 0)
    if (installed < revision) {
      pending.push(`graphile-worker's schema (revision ${revision}, found ${installed || 'none'})`)
    }
    const applied = new Set(
      tables?.ours == null
        ? []
        : (await client.query<{ id: number }>('select id from webhooks.migrations')).rows.map(
            (row) => row.id,
          ),
    )
    pending.push(...migrations.filter((m) => !applied.has(m.id)).map((m) => m.name))
    return pending
  } finally {
    await client.query('select pg_advisory_unlock_shared($1)', [MIGRATION_LOCK]).catch(() => undefined)
    client.release()
  }
}
