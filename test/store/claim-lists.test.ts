import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { explained, pairsDiscarded } from '../helpers/plans.ts'
import { enqueue } from '../helpers/queue.ts'

// Migration 0030: a claim over many destinations joins none of its own lists with another, and
// takes what it took before: every destination's first turn, then second turns oldest first, up
// to its limit. It reads no more of a destination's list than that destination's share.

const DESTINATIONS = 64
const EACH = 3
const LIMIT = 100

let testDb: TestDb
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_lists')
  // Destination i's deliveries are due 10 s ago + 100 ms per turn + i ms: second turns go to
  // the lowest-numbered destinations first.
  const rows = Array.from({ length: DESTINATIONS * EACH }, (_, k) => ({
    id: `dlv_lists_${String(k % DESTINATIONS).padStart(2, '0')}_${Math.floor(k / DESTINATIONS)}`,
    url: `http://d${k % DESTINATIONS}.example.com/hook`,
    dueAt: new Date(Date.now() - 10_000 + Math.floor(k / DESTINATIONS) * 100 + (k % DESTINATIONS)),
  }))
  await testDb.pool.query(
    `insert into webhooks.deliveries (id, event_id, org_id, destination, url)
     select id, 'evt_lists', 'org_1', id, url from unnest($1::text[], $2::text[]) t(id, url)`,
    [rows.map((r) => r.id), rows.map((r) => r.url)],
  )
  for (const row of rows) {
    await enqueue(testDb.db, [row.id], { dueAt: row.dueAt })
  }
  await testDb.pool.query('update webhooks.destinations set send_window = 2')
  await testDb.pool.query('analyze')
})
afterAll(async () => {
  await testDb?.drop()
})

/** A claim of `limit` on its own connection, with the plan of its large statement. */
async function explainedClaim(
  limit: number,
): Promise<{ claimed: Array<{ id: string }>; statement: string | undefined }> {
  const { result, plans } = await explained(
    testDb.pool,
    (client) =>
      client.query<{ id: string }>(`select id from webhooks.claim_deliveries($1, 60000, 10, 'pool_lists')`, [
        limit,
      ]),
    { analyze: true },
  )
  return { claimed: result.rows, statement: plans.find((plan) => plan.includes('with sized as')) }
}

/**
 * `each` deliveries (dlv_<name>_<i>_<n>) waiting since a second ago at each of `count`
 * destinations http://<host><i>.example.com, whose send windows allow 10 in flight.
 */
async function waitingAt(name: string, host: string, count: number, each: number): Promise<void> {
  const ids = Array.from(
    { length: count * each },
    (_, k) => `dlv_${name}_${k % count}_${Math.floor(k / count)}`,
  )
  await testDb.pool.query(
    `insert into webhooks.deliveries (id, event_id, org_id, destination, url)
     select id, 'evt_lists', 'org_1', id, 'http://' || $2 || split_part(id, '_', 3) || '.example.com/hook'
     from unnest($1::text[]) id`,
    [ids, host],
  )
  await enqueue(testDb.db, ids, { dueAt: new Date(Date.now() - 1_000) })
  await testDb.pool.query(`update webhooks.destinations set send_window = 10 where key like $1`, [
    `% http://${host}%`,
  ])
}

describe('a claim over many destinations', () => {
  it('compares no pairs of its own rows, and deals turns and readiness as before', async () => {
    const { claimed, statement } = await explainedClaim(LIMIT)
    expect(statement).toBeDefined()
    // A join of the destinations' figures with their lists by nested loop discards nearly every
    // pair: about DESTINATIONS * DESTINATIONS * EACH rows.
    expect(pairsDiscarded(statement ?? '')).toBeLessThan(DESTINATIONS)

    // Every destination's first turn (64), then the 36 oldest second turns; no third turns.
    const taken = new Map<string, number>()
    for (const { id } of claimed) {
      const destination = id.slice('dlv_lists_'.length, -2)
      taken.set(destination, (taken.get(destination) ?? 0) + 1)
      expect(id.endsWith('_2')).toBe(false)
    }
    expect(claimed).toHaveLength(LIMIT)
    const twice = LIMIT - DESTINATIONS
    for (let i = 0; i < DESTINATIONS; i++) {
      expect([i, taken.get(String(i).padStart(2, '0'))]).toEqual([i, i < twice ? 2 : 1])
    }

    // Those that filled their window wait for a lease to end; the others are ready again now.
    const { rows } = await testDb.pool.query<{
      n: number
      full: boolean
      ready_now: boolean
      ready_at_lease: boolean
    }>(
      `select count(*)::int as n, saturated as full, ready_at <= now() as ready_now,
         ready_at between now() + interval '50 seconds' and now() + interval '61 seconds' as ready_at_lease
       from webhooks.destinations group by 2, 3, 4 order by 2`,
    )
    expect(rows).toEqual([
      { n: DESTINATIONS - twice, full: false, ready_now: true, ready_at_lease: false },
      { n: twice, full: true, ready_now: false, ready_at_lease: true },
    ])
  })

  it("reads no more of each destination's waiting list than its share of the claim", async () => {
    // The first test's destinations are set aside; 40 more, each with 12 waiting deliveries and
    // room for 10 in flight: a claim of 40 takes one of each, and reads two (the one it takes
    // and the next, for when the destination is ready again) rather than eleven.
    await testDb.pool.query('update webhooks.destinations set ready_at = null')
    await waitingAt('share', 's', 40, 12)
    const { claimed, statement } = await explainedClaim(40)
    expect(new Set(claimed.map(({ id }) => id.split('_')[2])).size).toBe(40)
    expect(claimed).toHaveLength(40)
    // Each destination's waiting list is read by one index scan per destination (40 loops).
    const lists = [
      ...(statement ?? '').matchAll(
        /delivery_queue_destination on delivery_queue \S+ .*actual rows=(\d+) loops=40/g,
      ),
    ]
    expect(lists.length).toBeGreaterThan(0)
    expect(Math.max(...lists.map((m) => Number(m[1])))).toBe(2)
  })

  it('leaves a destination that took its whole share ready for the next claim', async () => {
    // Ten destinations in turn, four with ten waiting each and six with nothing (their
    // readiness is stale): a claim of 16 gives each a share of 2. The four take 2 each and are
    // ready again at once for the 8 left; none is held until its leases end.
    await testDb.pool.query('update webhooks.destinations set ready_at = null')
    await waitingAt('whole', 'w', 4, 10)
    await testDb.pool.query(
      `insert into webhooks.destinations (key, org_id, origin, ready_at)
       select webhooks.destination_key('org_1', null, u), 'org_1', webhooks.url_origin(u), now() - interval '1 second'
       from (select 'http://e' || g || '.example.com/hook' as u from generate_series(1, 6) g) x`,
    )
    const { claimed } = await explainedClaim(16)
    expect(claimed).toHaveLength(8)
    const { rows } = await testDb.pool.query<{
      waiting: boolean
      n: number
      ready_now: boolean
      full: boolean
    }>(
      `select key like '% http://w%' as waiting, count(*)::int as n, coalesce(ready_at <= now(), false) as ready_now,
         saturated as full
       from webhooks.destinations where key like '% http://w%' or key like '% http://e%' group by 1, 3, 4 order by 1`,
    )
    expect(rows).toEqual([
      { waiting: false, n: 6, ready_now: false, full: false },
      { waiting: true, n: 4, ready_now: true, full: false },
    ])
  })
})
