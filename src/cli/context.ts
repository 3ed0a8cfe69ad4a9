import type pg from 'pg'
import type { Config } from '../config.ts'
import { loadConfig } from '../config.ts'
import { embeddedUrlIfPresent } from '../dev/embedded-postgres.ts'
import { errorText } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { createLogger } from '../logger.ts'
import type { SecretBox } from '../secret-box.ts'
import { createSecretBox } from '../secret-box.ts'
import type { Db } from '../store/database.ts'
import { createDb, createPool, ping } from '../store/database.ts'
import type { Io } from './io.ts'
import { CommandError } from './io.ts'

export type Context = { config: Config; db: Db; box: SecretBox; logger: Logger; close(): Promise<void> }

/** Opens the database for an operator command: DATABASE_URL, or the embedded one `npm start` runs. */
export async function openContext(io: Io): Promise<Context> {
  const config = loadConfig(io.env)
  const url = config.databaseUrl ?? embeddedUrlIfPresent()
  if (url === undefined) {
    throw new CommandError('DATABASE_URL is not set (and no embedded database was started with `npm start`)')
  }
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr)
  const pool = createPool(url, 4, logger)
  await reachDatabase(pool)
  const db = createDb(pool)
  return {
    config,
    db,
    logger,
    box: createSecretBox(config.secretsKey, config.secretsKeyPrevious),
    close: () => db.destroy(),
  }
}

/**
 * Connects once before the command starts, so that a database that cannot be used (no server, a
 * connection closed or timed out, TLS refused, a wrong password) is one line, exit 1, whatever
 * error pg raised; on failure the pool is ended.
 */
export async function reachDatabase(pool: pg.Pool): Promise<void> {
  try {
    await ping(pool)
  } catch (error) {
    await pool.end().catch(() => undefined)
    throw new CommandError(`cannot use the database: ${errorText(error)}`, { cause: error })
  }
}

/**
 * Connects once and lets go, within `timeoutMs` (a listener that never answers is given up on):
 * for a command that hands the URL on, such as the worker, whose own start would otherwise
 * report the same failures as pg's stack traces.
 */
export async function probeDatabase(url: string, timeoutMs: number): Promise<void> {
  const pool = createPool(url, 1, undefined, 'imtegrate-webhooks', timeoutMs)
  await reachDatabase(pool)
  await pool.end()
}

/** Runs `fn` with an open context and always closes it. */
export async function withContext<T>(io: Io, fn: (context: Context) => Promise<T>): Promise<T> {
  const context = await openContext(io)
  try {
    return await fn(context)
  } finally {
    await context.close()
  }
}
