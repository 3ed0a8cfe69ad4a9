import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

// Migration 0028: an outcome write of a large batch joins none of its own lists with another,
// so its cost grows with the batch, not with its square; and it writes what it wrote before.

const COUNT = 200

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
    const { rows: claimed } = await testDb.pool.query<{
      id: string
      attempts: number
      destination_id: string
    }>(
      `select id, attempts, destination_id from webhooks.claim_deliveries(${COUNT}, 60000, 1000, 'pool_batch')
       order by id`,
    )
    expect(claimed).toHaveLength(COUNT)
    // The first half delivered, the second half to be retried in 30 s, before the leases (60 s) end:
    // the destination is next ready when the first retry comes due.
    const delivered = claimed.map((_, i) => i < COUNT / 2)

    const client = await testDb.pool.connect()
    const plans: string[] = []
    client.on('notice', (notice) => plans.push(notice.message ?? ''))
    try {
      await client.query(`load 'auto_explain'`)
      await client.query('set auto_explain.log_min_duration = 0')
      await client.query('set auto_explain.log_analyze = on')
      await client.query('set auto_explain.log_timing = off')
      await client.query('set auto_explain.log_nested_statements = on')
      await client.query('set client_min_messages = log')
      await client.query(
        `select webhooks.record_outcomes(
           $1::text[], $2::int[], array_fill(0, array[$3::int]), array_fill('org_batch'::text, array[$3::int]),
           array_fill('ep_batch'::text, array[$3::int]), $4::bigint[], array_fill(now(), array[$3::int]),
           array_fill(5, array[$3::int]), $5::int[], array_fill(null::text, array[$3::int]),
           array_fill(null::text, array[$3::int]), array_fill(null::text, array[$3::int]),
           $6::text[], $7::text[], $8::bigint[], array_fill('answered'::text, array[$3::int]), 10, '{1000}')`,
        [
          claimed.map((c) => c.id),
          claimed.map((c) => c.attempts),
          COUNT,
          claimed.map((c) => c.destination_id),
          delivered.map((d) => (d ? 200 : 500)),
          delivered.map((d) => (d ? 'delivered' : 'retrying')),
          delivered.map((d) => (d ? 'delivered' : 'pending')),
          delivered.map((d) => (d ? null : 30_000)),
        ],
      )
    } finally {
      await client.query('reset client_min_messages')
      client.release(true)
    }
    const write = plans.find((plan) => plan.includes('with given as'))
    expect(write).toBeDefined()
    // A join of two of the statement's lists by nested loop discards nearly every pair:
    // COUNT * (COUNT - 1) rows for one of them.
    const removed = [...(write ?? '').matchAll(/Rows Removed by Join Filter: (\d+)/g)].map((m) =>
      Number(m[1]),
    )
    expect(Math.max(0, ...removed)).toBeLessThan(COUNT)

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
