import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { claimDeliveries } from '../../src/store/claim.ts'
import { reconcile } from '../../src/worker/reconcile.ts'
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

describe('the reconciler, as a safety net', () => {
  it('wakes a destination left waiting for nothing while a delivery is due, and only such', async () => {
    const pool = testDb.pool
    const urls = ['https://stranded.example/a', 'https://backing-off.example/a', 'https://empty.example/a']
    await pool.query(`insert into webhooks.org_secrets (org_id, secret) values ('org_strand', 'sealed')`)
    for (const [i, url] of urls.slice(0, 2).entries()) {
      await pool.query(
        `select webhooks.record_render_status(org_id => 'org_strand', render_id => $1,
          kind => 'image', status => 'completed', webhook_url => $2)`,
        [`img_strand_${i}`, url],
      )
    }
    await pool.query('select webhooks.fan_out(10)')
    await pool.query(
      `insert into webhooks.destinations (key, org_id, origin)
       values (webhooks.destination_key('org_strand', null, $1), 'org_strand', webhooks.url_origin($1))`,
      [urls[2]],
    )
    // As the race 0020 closed left them: waiting for nothing; the second also backing off.
    await pool.query(
      `update webhooks.destinations set ready_at = null,
         backoff_until = case when origin = webhooks.url_origin($1) then now() + interval '1 hour' end
       where org_id = 'org_strand'`,
      [urls[1]],
    )
    expect(await claim()).toEqual([])

    const kick = vi.fn()
    await reconcile(testDb.db, createLogger('silent'), kick)
    expect(kick).toHaveBeenCalledOnce()

    expect((await claim()).map((d) => d.url)).toEqual([urls[0]])
    const { rows } = await pool.query<{ origin: string; waits: boolean | null }>(
      `select origin, ready_at > now() + interval '50 minutes' as waits from webhooks.destinations
       where org_id = 'org_strand' order by origin`,
    )
    expect(rows).toEqual([
      // Backing off: woken at the end of its backoff, not before.
      { origin: 'https://backing-off.example:443', waits: true },
      // Nothing queued: left alone.
      { origin: 'https://empty.example:443', waits: null },
      // Claimed just now: its lease is what it waits for.
      { origin: 'https://stranded.example:443', waits: false },
    ])
  })
})
