import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

// Recording NOTIFYs webhooks_outbox only when a live worker is listening idle: not while a
// dispatcher promises to poll (worker_pools.polling_until; a session keeps the latest promise it
// read, at most 2 s), and not when no worker is alive (remembered for 1 s).

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

/** A worker pool that beats now; `pollingFor` set: it promises to poll that long. */
async function livePool(id: string, pollingFor?: string): Promise<void> {
  await testDb.pool.query(
    `insert into webhooks.worker_pools (id, hostname, pid, heartbeat_at, polling_until)
     values ($1, 'test', 1, now(), now() + $2::interval)
     on conflict (id) do update set heartbeat_at = now(), polling_until = excluded.polling_until`,
    [id, pollingFor ?? null],
  )
}

async function forgetPools(): Promise<void> {
  await testDb.pool.query('delete from webhooks.worker_pools')
}

describe('the coalesced wake-up', () => {
  it('notifies when a live worker listens idle', async () => {
    await livePool('pool_idle')
    const client = await session()
    try {
      expect(await notificationsDuring(() => record(client))).toBe(1)
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
      await forgetPools()
    }
  })

  it('stays silent when no worker is alive, and looks again a second later', async () => {
    // Regression: with every worker down, each recording paid the global NOTIFY lock for nobody.
    await testDb.pool.query(`insert into webhooks.worker_pools (id, hostname, pid, heartbeat_at)
      values ('pool_dead', 'test', 1, now() - interval '1 minute')`)
    const client = await session()
    try {
      expect(await notificationsDuring(() => record(client))).toBe(0)
      await livePool('pool_back')
      // Remembered for a second: a worker that just started polls anyway.
      expect(await notificationsDuring(() => record(client))).toBe(0)
      await delay(1_050)
      await livePool('pool_back')
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
      await forgetPools()
    }
  })

  it('stays silent while a promise holds, and notifies again once the remembered one has passed', async () => {
    await livePool('pool_w', '1 hour')
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

      // The pool stops promising and listens idle; this session still holds the promise it read.
      await livePool('pool_w')
      expect(await notificationsDuring(() => record(client))).toBe(0)

      await delay(Math.max(0, remembered - Date.now()) + 50)
      await livePool('pool_w')
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
      await forgetPools()
    }
  })

  it('forgets a promise read in a transaction that rolled back', async () => {
    const client = await session()
    try {
      await livePool('pool_r', '1 hour')
      await client.query('begin')
      await record(client)
      await client.query('rollback')
      await livePool('pool_r')
      expect(await notificationsDuring(() => record(client))).toBe(1)
    } finally {
      await client.end()
      await forgetPools()
    }
  })
})
