import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimDeliveries } from '../../src/store/claim.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { outcomeOf, recordOutcomesOn } from '../helpers/outcomes.ts'
import { explained, pairsDiscarded } from '../helpers/plans.ts'

// Migration 0028: an outcome write of a large batch joins none of its own lists with another,
// so its cost grows with the batch, not with its square; and it writes what it wrote before.

const COUNT = 200
const POLICY = { defaultCap: 10, probePausesMs: [1_000] }

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
  await testDb.pool.query(`insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight)
    values ('ep_batch', 'org_batch', 'http://127.0.0.1:9/hook', 'sealed', 1000)`)
  await testDb.pool.query(
    `insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
     select 'evt_batch_' || lpad(g::text, 3, '0'), 'org_batch', 'image.completed', 'img_batch_' || g, '{}', now()
     from generate_series(1, $1::int) g`,
    [COUNT],
  )
})
afterAll(async () => {
  await testDb?.drop()
})

describe('an outcome write of a large batch', () => {
  it('compares no pairs of its own rows, and settles, reschedules and logs every one', async () => {
    await testDb.pool.query('select webhooks.fan_out($1)', [COUNT])
    // Room for more than the batch, so that the destination is not left full (a full one is
    // ready again as soon as a slot frees).
    await testDb.pool.query('update webhooks.destinations set send_window = 1000')
    const claimed = (
      await claimDeliveries(testDb.db, {
        limit: COUNT,
        leaseMs: 60_000,
        defaultCap: 1000,
        poolId: 'pool_batch',
      })
    ).sort((x, y) => x.id.localeCompare(y.id))
    expect(claimed).toHaveLength(COUNT)
    // The first half delivered, the second half to be retried in 30 s, before the leases (60 s) end:
    // the destination is next ready when the first retry comes due.
    const records = claimed.map((c, i) => outcomeOf(c, i < COUNT / 2 ? 200 : 500, 30_000))

    const { plans } = await explained(
      testDb.pool,
      (client) => recordOutcomesOn(client, testDb.db, records, POLICY),
      { analyze: true },
    )
    const write = plans.find((plan) => plan.includes('with given as'))
    expect(write).toBeDefined()
    // A join of two of the statement's lists by nested loop discards nearly every pair:
    // COUNT * (COUNT - 1) rows for one of them.
    expect(pairsDiscarded(write ?? '')).toBeLessThan(COUNT)

    const { rows } = await testDb.pool.query<{
      delivered: number
      pending: number
      queued: number
      attempts: number
      ready_at_first_retry: boolean
    }>(
      `select
         (select count(*)::int from webhooks.deliveries where status = 'delivered' and delivered_at is not null) as delivered,
         (select count(*)::int from webhooks.deliveries where status = 'pending') as pending,
         (select count(*)::int from webhooks.delivery_queue
          where not leased and failures = 1 and due_at > now() + interval '25 seconds') as queued,
         (select count(*)::int from webhooks.attempts) as attempts,
         (select ready_at between now() + interval '25 seconds' and now() + interval '31 seconds'
          from webhooks.destinations where endpoint_id = 'ep_batch') as ready_at_first_retry`,
    )
    expect(rows[0]).toEqual({
      delivered: COUNT / 2,
      pending: COUNT / 2,
      queued: COUNT / 2,
      attempts: COUNT,
      ready_at_first_retry: true,
    })
  })
})
