import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EMBEDDED_PORT } from '../../src/worker/embedded-postgres.ts'
import { disposeChildren, spawnCli, workerStarted } from './child-worker.ts'

// `npm start` with no DATABASE_URL: the worker starts the PostgreSQL of the embedded-postgres
// package under ./.data, migrates it, runs, and on SIGTERM stops both. Run in a directory of
// its own, twice: the second start reuses what the first left.

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

beforeAll(async () => {
  if (await portOpen()) {
    throw new Error(
      `port ${EMBEDDED_PORT} is taken (an embedded PostgreSQL left running?): this test needs it`,
    )
  }
  dir = await mkdtemp(join(tmpdir(), 'iwh-embedded-'))
  // As root the package runs PostgreSQL as the postgres user, which must reach the data directory.
  await chmod(dir, 0o755)
})

afterAll(async () => {
  await disposeChildren()
  if (dir) {
    await rm(dir, { recursive: true, force: true })
  }
})

/** `imtegrate-webhooks <args>` in the test's directory, without DATABASE_URL. */
const run = (args: string[]) => spawnCli(args, { LOG_LEVEL: 'info', WEBHOOK_SHUTDOWN_TIMEOUT: '1s' }, dir)

async function startStop(): Promise<string> {
  const worker = run(['worker'])
  // A first start runs initdb.
  await workerStarted(worker, 90_000)
  // An operator command finds the same database with no DATABASE_URL either.
  const cli = run(['endpoints', 'list', '--org', 'org_embedded', '--json'])
  expect(await cli.exited, cli.output()).toBe(0)
  expect(JSON.parse(cli.output())).toEqual([])

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
})
