import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

// Recording NOTIFYs webhooks_outbox only when no dispatcher promises to poll
// (worker_pools.polling_until), and a session keeps the latest promise it read, at most 2 s.

let testDb: TestDb
let listener: pg.Client
const notified: number[] = []
let seq = 0

beforeAll(async () => {
  testDb = await createTestDatabase()
  listener = new pg.Client({ connectionString: testDb.url })
  await listener.connect()
  listener.on('notification', (n) => {
    if (n.channel === 'webhooks_outbox') {
      notified.push(Date.now())
    }
  })
  await listener.query('listen webhooks_outbox')
})

afterAll(async () => {
  await listener?.end()
  await testDb?.drop()
})

async function session(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  return client
}

async function record(client: pg.Client): Promise<void> {
  await client.query(
    `select webhooks.record_render_status(org_id => 'org_w', render_id => $1, kind => 'image', status => 'completed')`,
    [`img_w${++seq}`],
  )
}

/** Notifications that arrive while `action` runs and for a moment after its commit. */
async function notificationsDuring(action: () => Promise<void>): Promise<number> {
  const before = notified.length
  await action()
  // A NOTIFY is delivered at commit; a manual one sent afterwards proves the channel is flowing.
  await testDb.pool.query(`select pg_notify('webhooks_outbox', 'probe')`)
  await expect.poll(() => notified.length, { timeout: 2_000 }).toBeGreaterThan(before)
  await delay(50)
  return notified.length - before - 1
}

describe('the coalesced wake-up', () => {
  it('notifies when no dispatcher promises to poll', async () => {
    const client = await session()
    try {
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
    }
  })

  it('stays silent while a promise holds, and notifies again once the remembered one has passed', async () => {
    await testDb.pool.query(`insert into webhooks.worker_pools (id, hostname, pid, polling_until)
      values ('pool_w', 'test', 1, now() + interval '1 hour')`)
    const client = await session()
    try {
      expect(await notificationsDuring(() => record(client))).toBe(0)
      const { rows } = await client.query<{ until: number }>(
        `select current_setting('webhooks.polling_until')::float8 * 1000 as until`,
      )
      const remembered = rows[0]?.until ?? 0
      // Trusted for at most 2 s, however far ahead the pool advertised.
      expect(remembered).toBeGreaterThan(Date.now())
      expect(remembered).toBeLessThanOrEqual(Date.now() + 2_100)

      // The pool stops promising; this session still holds the promise it read.
      await testDb.pool.query(`delete from webhooks.worker_pools where id = 'pool_w'`)
      expect(await notificationsDuring(() => record(client))).toBe(0)

      await delay(Math.max(0, remembered - Date.now()) + 50)
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
    }
  })

  it('forgets a promise read in a transaction that rolled back', async () => {
    const client = await session()
    try {
      await testDb.pool.query(`insert into webhooks.worker_pools (id, hostname, pid, polling_until)
        values ('pool_r', 'test', 1, now() + interval '1 hour')`)
      await client.query('begin')
      await record(client)
      await client.query('rollback')
      await testDb.pool.query(`delete from webhooks.worker_pools where id = 'pool_r'`)
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
    }
  })
})
