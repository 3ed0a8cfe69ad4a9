import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimDeliveries } from '../../src/store/claim.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { outcomeOf, recordOutcomesOn } from '../helpers/outcomes.ts'

// Migration 0023: a batch of settles of deliveries fanned out together is HOT, nearly every one
// of them: deliveries keeps half of each page free for the rows' next versions.

const COUNT = 64
const POLICY = { defaultCap: 10, probePausesMs: [1_000] }

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
  await testDb.pool.query(`insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight)
    values ('ep_room', 'org_room', 'http://127.0.0.1:9/hook', 'sealed', ${COUNT})`)
  await testDb.pool.query(
    `insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
     select 'evt_room_' || lpad(g::text, 3, '0'), 'org_room', 'image.completed', 'img_room_' || g,
       json_build_object('id', 'img_room_' || g, 'result_url', repeat('x', 120)), now()
     from generate_series(1, $1::int) g`,
    [COUNT],
  )
})
afterAll(async () => {
  await testDb?.drop()
})

describe('settling a batch of deliveries', () => {
  it('updates its rows in place (HOT): no new index entries', async () => {
    const { rows: fanned } = await testDb.pool.query<{ n: number }>('select webhooks.fan_out($1) as n', [
      COUNT,
    ])
    expect(fanned[0]?.n).toBe(COUNT)
    // A new destination's window starts at one request; this one has earned all of its slots.
    await testDb.pool.query(`update webhooks.destinations set send_window = ${COUNT}`)
    const claimed = await claimDeliveries(testDb.db, {
      limit: COUNT,
      leaseMs: 60_000,
      defaultCap: COUNT,
      poolId: 'pool_room',
    })
    expect(claimed).toHaveLength(COUNT)

    const client = await testDb.pool.connect()
    try {
      await client.query('begin')
      await recordOutcomesOn(
        client,
        testDb.db,
        claimed.map((c) => outcomeOf(c, 200)),
        POLICY,
      )
      // This transaction's own counts, as the statistics will have them when it commits.
      const { rows } = await client.query<{ updated: number; hot: number }>(
        `select n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_xact_user_tables
         where schemaname = 'webhooks' and relname = 'deliveries'`,
      )
      await client.query('commit')
      // A settle's row is a little longer than the fan-out's (its status code and times), so the
      // last row of a page may not fit; at fillfactor 80 about a quarter fitted.
      expect(rows[0]?.updated).toBe(COUNT)
      expect(rows[0]?.hot).toBeGreaterThanOrEqual(COUNT * 0.9)
    } finally {
      client.release()
    }
    const { rows: delivered } = await testDb.pool.query<{ n: number }>(
      `select count(*)::int as n from webhooks.deliveries where status = 'delivered' and delivered_at is not null`,
    )
    expect(delivered[0]?.n).toBe(COUNT)
  })
})
