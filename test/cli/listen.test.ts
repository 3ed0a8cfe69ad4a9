import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EVENT_TYPES } from '../../src/dev/samples.ts'
import { runCli } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { disposeChildren, spawnCli } from '../reliability/child-worker.ts'

// `imtegrate-webhooks listen` (npm run demo) end to end, on a test database instead of the
// embedded one (whose fixed port another test uses): a receiver on 127.0.0.1, a worker allowed
// to reach it, sample renders; every event type must arrive with both signatures verified.

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await disposeChildren()
  await testDb?.drop()
})

describe('imtegrate-webhooks listen', () => {
  it('shows a webhook of every event type arriving verified, and cleans up on Ctrl-C', async () => {
    const listen = spawnCli(['listen'], { DATABASE_URL: testDb.url }, undefined, true)
    await vi.waitFor(
      () => {
        const lines = listen.output().split('\n')
        for (const type of EVENT_TYPES) {
          expect(
            lines.some((line) =>
              new RegExp(
                `^\\d\\d:\\d\\d:\\d\\d  ${type.replace('.', '\\.')} .*X-Imtegrate-Signature verified  webhook-signature verified$`,
              ).test(line),
            ),
            listen.output(),
          ).toBe(true)
        }
      },
      { timeout: 30_000, interval: 50 },
    )
    expect(listen.output()).toMatch(
      /^listening on http:\/\/127\.0\.0\.1:\d+\/webhooks: endpoint ep_\w+ of org_demo$/m,
    )
    expect(listen.output()).toContain('recorded 7 sample events')
    expect(listen.output()).not.toContain('FAILED')
    const { rows: before } = await testDb.pool.query<{ id: string; url: string }>(
      `select id, url from webhooks.endpoints where org_id = 'org_demo' and deleted_at is null`,
    )
    expect(before).toHaveLength(1)

    process.kill(-(listen.process.pid as number), 'SIGINT')
    expect(await listen.exited, listen.output()).toBe(0)
    expect(listen.output()).toContain(`stopped; endpoint ${before[0]?.id} deleted`)
    const { rows: after } = await testDb.pool.query(
      `select 1 from webhooks.endpoints where org_id = 'org_demo' and deleted_at is null`,
    )
    expect(after).toEqual([])
    // Every delivery was answered 2xx on its first attempt: nothing left to retry.
    const { rows: deliveries } = await testDb.pool.query<{ status: string; attempts: number }>(
      'select status, attempts from webhooks.deliveries',
    )
    expect(deliveries).toHaveLength(7)
    expect(deliveries.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true)
    // The receiver is gone with it.
    await expect(fetch(before[0]?.url ?? '', { method: 'POST' })).rejects.toThrow()
  }, 60_000)

  // Regression: a server that closed the connection at once ended listen in a pg-pool stack trace.
  it('says in one line when the database cannot be used', async () => {
    const server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const result = await runCli({ url: `postgres://postgres@127.0.0.1:${port}/none` }, ['listen'])
      expect(result).toMatchObject({ code: 1, out: '' })
      expect(result.err).toMatch(/^error: cannot use the database: Connection terminated unexpectedly$/)
    } finally {
      server.close()
    }
  })

  it('refuses a bad --port with its usage', async () => {
    const listen = spawnCli(['listen', '--port', 'http'], { DATABASE_URL: testDb.url })
    expect(await listen.exited).toBe(2)
    expect(listen.output()).toContain('--port must be a port number (0 to 65535), got http')
  })
})
