import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClaimedDelivery } from '../../src/store/claim.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { outcomeOf, recordOutcomesOn } from '../helpers/outcomes.ts'
import { explained, pairsDiscarded } from '../helpers/plans.ts'

// Migration 0030: the claim, the fan-out and the outcome write keep one plan per connection,
// made from the statistics of the moment. Planned when the tables were analyzed nearly empty
// (a burst after a quiet spell) and run once they are full, no plan may read a table whole or
// compare every row of one list with every row of another.

const ORGS = 50
const EVENTS = 1_000
const FAN_OUT = 500
const CLAIM = 64
/** Rows a join discards only when it pairs every row of one list with every row of another. */
const PAIRS = FAN_OUT

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
  // The quiet spell: one event, fanned out, delivered, and the tables analyzed as they are.
  await insertEvents('evt_quiet_', 1)
  await testDb.pool.query('select webhooks.fan_out(10)')
  const { rows } = await testDb.pool.query<ClaimedDelivery>(
    `select * from webhooks.claim_deliveries(10, 60000, 10, 'pool_quiet')`,
  )
  const client = await testDb.pool.connect()
  try {
    await recordOutcomesOn(
      client,
      testDb.db,
      rows.map((claimed) => outcomeOf(claimed, 200)),
      POLICY,
    )
  } finally {
    client.release()
  }
  await testDb.pool.query(
    'vacuum analyze webhooks.events, webhooks.deliveries, webhooks.delivery_queue, webhooks.destinations, webhooks.attempts',
  )
  // The burst.
  await insertEvents('evt_burst_', EVENTS)
})
afterAll(async () => {
  await testDb?.drop()
})

const POLICY = { defaultCap: 10, probePausesMs: [1_000] }

async function insertEvents(prefix: string, count: number): Promise<void> {
  await testDb.pool.query(
    `insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
     select $1 || lpad(g::text, 5, '0'), 'org_' || g % $3, 'image.completed', $1 || g,
       'http://127.0.0.1:9/org_' || g % $3, '{}', now()
     from generate_series(1, $2::int) g`,
    [prefix, count, ORGS],
  )
}

/** Runs `work` on a new connection (so every plan is made now) and returns its statements' plans. */
async function plansOf(work: (client: pg.PoolClient) => Promise<void>): Promise<string[]> {
  return (await explained(testDb.pool, work, { analyze: true })).plans
}

/**
 * The indexes and tables the plans read whole: scans with no condition on the index. The
 * fan-out's scan of events_unfanned has none and reads only what it takes (the partial index
 * holds only the events not fanned out yet).
 */
function wholeReads(plans: readonly string[]): string[] {
  const lines = plans.join('\n').split('\n')
  const depth = (line: string) => line.length - line.trimStart().length
  const found: string[] = []
  for (const [i, line] of lines.entries()) {
    const scan = /(Seq Scan on|Index (?:Only )?Scan(?: Backward)? using) (\S+)/.exec(line)
    if (!scan || scan[2] === 'events_unfanned') {
      continue
    }
    let conditioned = false
    for (let j = i + 1; j < lines.length && depth(lines[j] ?? '') > depth(line); j++) {
      conditioned ||= (lines[j] ?? '').includes('Index Cond:')
    }
    if (!conditioned) {
      found.push(scan[2] ?? '')
    }
  }
  return found
}

describe('plans made on nearly empty tables, run on full ones', () => {
  let claimed: ClaimedDelivery[] = []

  it('fan out without reading a table whole or pairing lists', async () => {
    let made = 0
    const plans = await plansOf(async (client) => {
      const { rows } = await client.query<{ n: number }>('select webhooks.fan_out($1) as n', [FAN_OUT])
      made = rows[0]?.n ?? 0
    })
    expect(made).toBe(FAN_OUT)
    expect(wholeReads(plans)).toEqual([])
    expect(pairsDiscarded(plans)).toBeLessThan(PAIRS)
    const { rows } = await testDb.pool.query<{ queued: number; destinations: number }>(
      `select count(*)::int as queued, count(distinct destination_id)::int as destinations
       from webhooks.delivery_queue`,
    )
    expect(rows[0]).toEqual({ queued: FAN_OUT, destinations: ORGS })
    // The rest, so that the queue holds every delivery of the burst.
    await testDb.pool.query('select webhooks.fan_out($1)', [EVENTS])
  })

  it('claim without reading a table whole or pairing lists', async () => {
    // Room for several per destination, so that the claim takes second and third turns.
    await testDb.pool.query('update webhooks.destinations set send_window = 10')
    const plans = await plansOf(async (client) => {
      const { rows } = await client.query<ClaimedDelivery>(
        `select * from webhooks.claim_deliveries($1, 60000, 10, 'pool_burst')`,
        [CLAIM],
      )
      claimed = rows
    })
    expect(claimed).toHaveLength(CLAIM)
    expect(new Set(claimed.map((c) => c.destination_id)).size).toBe(ORGS)
    expect(claimed.every((c) => c.event_id.startsWith('evt_burst_') && c.type === 'image.completed')).toBe(
      true,
    )
    expect(wholeReads(plans)).toEqual([])
    expect(pairsDiscarded(plans)).toBeLessThan(PAIRS)
  })

  it('write outcomes without reading a table whole or pairing lists', async () => {
    // Half delivered, half retried.
    const records = claimed.map((c, i) => outcomeOf(c, i % 2 === 0 ? 200 : 500))
    const plans = await plansOf(async (client) => {
      await recordOutcomesOn(client, testDb.db, records, POLICY)
    })
    expect(wholeReads(plans)).toEqual([])
    expect(pairsDiscarded(plans)).toBeLessThan(PAIRS)
    const { rows } = await testDb.pool.query<{ delivered: number; retrying: number; leased: number }>(
      `select (select count(*)::int from webhooks.deliveries where status = 'delivered' and id like 'dlv%'
                 and event_id like 'evt_burst_%') as delivered,
         (select count(*)::int from webhooks.delivery_queue where failures = 1 and not leased) as retrying,
         (select count(*)::int from webhooks.delivery_queue where leased) as leased`,
    )
    expect(rows[0]).toEqual({ delivered: CLAIM / 2, retrying: CLAIM / 2, leased: 0 })
  })
})
