import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { claimDeliveries } from '../../src/store/claim.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

// Migration 0020: a claim that takes a destination while a fan-out is giving it a delivery (not
// committed yet, so the claim finds nothing due) must not leave that delivery waiting for nothing.
// The fan-out is held, by a trigger waiting on an advisory lock the test holds, at the point
// where the claim used to slip in: after it decided whether to wake the destination.

const URL = 'https://race.example/hook'
const HELD = 4242

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await testDb?.drop()
})

const claim = () =>
  claimDeliveries(testDb.db, { limit: 10, leaseMs: 60_000, defaultCap: 10, poolId: 'pool_race' })

describe('a fan-out and a claim of the same destination at once', () => {
  it('leaves the new delivery claimable, whatever the claim wrote meanwhile', async () => {
    const pool = testDb.pool
    await pool.query(`insert into webhooks.org_secrets (org_id, secret) values ('org_race', 'sealed')`)
    // The destination exists and is ready: it has had its turn, with nothing queued yet.
    await pool.query(
      `insert into webhooks.destinations (key, org_id, origin, ready_at)
       values (webhooks.destination_key('org_race', null, $1), 'org_race', webhooks.url_origin($1),
         now() - interval '1 second')`,
      [URL],
    )
    await pool.query(
      `select webhooks.record_render_status(org_id => 'org_race', render_id => 'img_race',
      kind => 'image', status => 'completed', webhook_url => $1)`,
      [URL],
    )
    // Marking the events waits for the advisory lock the test holds.
    await pool.query(`create function public.hold_fan_out() returns trigger language plpgsql as $$
      begin perform pg_advisory_lock_shared(${HELD}); perform pg_advisory_unlock_shared(${HELD}); return new; end $$`)
    await pool.query(`create trigger hold_fan_out before update on webhooks.events for each row
      when (old.fanned_out_at is null and new.fanned_out_at is not null) execute function public.hold_fan_out()`)

    const holder = new pg.Client({ connectionString: testDb.url })
    await holder.connect()
    try {
      await holder.query('select pg_advisory_lock($1)', [HELD])
      const fanOut = pool.query<{ n: number }>('select webhooks.fan_out(10) as n')
      await vi.waitFor(
        async () => {
          const { rows } = await pool.query<{ n: number }>(
            `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`,
          )
          expect(rows[0]?.n).toBe(1)
        },
        { timeout: 5_000, interval: 20 },
      )
      // The fan-out is under way: its delivery is not committed, so this claim finds nothing.
      expect(await claim()).toEqual([])
      await holder.query('select pg_advisory_unlock($1)', [HELD])
      expect((await fanOut).rows[0]?.n).toBe(1)
    } finally {
      await holder.end()
    }

    const claimed = await claim()
    expect(claimed.map((d) => d.url)).toEqual([URL])
  })
})
