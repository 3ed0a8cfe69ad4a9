import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClaimedDelivery, ClaimRequest } from '../../src/store/claim.ts'
import { claimDeliveries } from '../../src/store/claim.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { enqueue } from '../helpers/queue.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_claim')
})
afterAll(async () => {
  await testDb?.drop()
})

const BASE: ClaimRequest = { limit: 100, leaseMs: 60_000, defaultCap: 100, poolId: 'pool_a' }
const claim = (request: Partial<ClaimRequest> = {}) => claimDeliveries(testDb.db, { ...BASE, ...request })

let seq = 0
/**
 * `count` deliveries of org_1 to the render URL `url`, queued as `state` (due a second ago by
 * default), each `msAfter` later than the one before. Returns their ids, oldest first.
 */
async function deliveries(url: string, count: number, options: { ageMs?: number } = {}): Promise<string[]> {
  const ids = Array.from({ length: count }, () => `dlv_c${String(++seq).padStart(6, '0')}`)
  await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url)
    select id, 'evt_claim', 'org_1', id, ${url} from unnest(${ids}::text[]) id`.execute(testDb.db)
  // One at a time, each a millisecond younger: "oldest first" has an order to keep.
  const start = Date.now() - (options.ageMs ?? 1_000)
  for (const [i, id] of ids.entries()) {
    await enqueue(testDb.db, [id], { dueAt: new Date(start + i) })
  }
  return ids
}

/** The destination of render URL `url` of org_1, with a send window that does not limit it. */
async function destination(url: string, fields: Record<string, unknown> = {}): Promise<number> {
  const { rows } = await sql<{ id: number }>`
    update webhooks.destinations set send_window = 1000
    where key = webhooks.destination_key('org_1', null, ${url}) returning id`.execute(testDb.db)
  const id = rows[0]?.id
  if (id === undefined) {
    throw new Error(`no destination for ${url}`)
  }
  for (const [column, value] of Object.entries(fields)) {
    await sql`update webhooks.destinations set ${sql.ref(column)} = ${value} where id = ${id}`.execute(
      testDb.db,
    )
  }
  return id
}

const ids = (claimed: readonly ClaimedDelivery[]) => claimed.map((d) => d.id).sort()

describe('claimDeliveries', () => {
  it('never leases more than its limit, taking what has waited longest first', async () => {
    const due = await deliveries('http://a.example/x', 5)
    await destination('http://a.example/x')
    const first = await claim({ limit: 3 })
    expect(ids(first)).toEqual(due.slice(0, 3))
    expect(ids(await claim({ limit: 3 }))).toEqual(due.slice(3))
    expect(await claim({ limit: 3 })).toEqual([])
  })

  it('deals the slots round-robin: a destination with a long backlog takes no more than its share', async () => {
    // A's 50 deliveries all waited longer than B's and C's 2 each.
    const a = await deliveries('http://rr-a.example/', 50, { ageMs: 60_000 })
    const b = await deliveries('http://rr-b.example/', 2)
    const c = await deliveries('http://rr-c.example/', 2)
    for (const url of ['http://rr-a.example/', 'http://rr-b.example/', 'http://rr-c.example/']) {
      await destination(url)
    }
    const first = await claim({ limit: 6 })
    expect(ids(first)).toEqual([...a.slice(0, 2), ...b, ...c].sort())
    // With nobody else waiting, A takes every slot.
    expect(ids(await claim({ limit: 10 }))).toEqual(a.slice(2, 12))
  })

  it('leases no more to a destination than its cap across workers, until an outcome or the lease ends', async () => {
    const due = await deliveries('http://cap.example/', 6)
    await destination('http://cap.example/')
    const one = await claim({ defaultCap: 2, poolId: 'pool_a' })
    const two = await claim({ defaultCap: 2, poolId: 'pool_b' })
    expect(ids(one)).toEqual(due.slice(0, 2))
    expect(two).toEqual([])
    // The leases run out (their worker died): the cap is free again, and they are taken over first.
    await sql`update webhooks.delivery_queue set due_at = now() - interval '1 minute'
      where delivery_id = any(${due.slice(0, 2)}::text[])`.execute(testDb.db)
    await sql`update webhooks.destinations set ready_at = now() where key = webhooks.destination_key('org_1', null, 'http://cap.example/')`.execute(
      testDb.db,
    )
    const taken = await claim({ defaultCap: 2, poolId: 'pool_b' })
    expect(ids(taken)).toEqual(due.slice(0, 2))
    expect(taken.map((d) => d.attempts)).toEqual([2, 2])
  })

  it('logs the attempt an expired lease lost, and numbers the next attempt after it', async () => {
    const [id = ''] = await deliveries('http://lost.example/', 1)
    await destination('http://lost.example/')
    expect(ids(await claim())).toEqual([id])
    await sql`update webhooks.delivery_queue set due_at = now() - interval '1 second' where delivery_id = ${id}`.execute(
      testDb.db,
    )
    await sql`update webhooks.destinations set ready_at = now() where key = webhooks.destination_key('org_1', null, 'http://lost.example/')`.execute(
      testDb.db,
    )
    const [again] = await claim()
    expect(again).toMatchObject({ id, attempts: 2 })
    const { rows } = await sql<{ attempt_no: number; outcome: string; error_code: string }>`
      select attempt_no, outcome, error_code from webhooks.attempts where delivery_id = ${id}`.execute(
      testDb.db,
    )
    expect(rows).toEqual([{ attempt_no: 1, outcome: 'lost', error_code: 'worker_lost' }])
  })

  it('waits to take over a lease whose worker is still beating, and takes none while told to wait', async () => {
    const [id = ''] = await deliveries('http://alive.example/', 1)
    await destination('http://alive.example/')
    expect(ids(await claim({ poolId: 'pool_alive' }))).toEqual([id])
    await sql`insert into webhooks.worker_pools (id, hostname, pid, heartbeat_at) values ('pool_alive', 'test', 1, now())`.execute(
      testDb.db,
    )
    // Expired a second ago, but its worker beat since: it may still write the outcome it holds.
    await sql`update webhooks.delivery_queue set due_at = now() - interval '1 second' where delivery_id = ${id}`.execute(
      testDb.db,
    )
    await sql`update webhooks.destinations set ready_at = now() where key = webhooks.destination_key('org_1', null, 'http://alive.example/')`.execute(
      testDb.db,
    )
    expect(await claim({ poolId: 'pool_b', leaseMs: 60_000 })).toEqual([])
    // Expired longer ago than a lease lasts: taken over all the same, unless told not to.
    await sql`update webhooks.delivery_queue set due_at = now() - interval '2 minutes' where delivery_id = ${id}`.execute(
      testDb.db,
    )
    await sql`update webhooks.destinations set ready_at = now() where key = webhooks.destination_key('org_1', null, 'http://alive.example/')`.execute(
      testDb.db,
    )
    expect(await claim({ poolId: 'pool_b', takeOverAfterMs: 200 })).toEqual([])
    // Looked at again once the wait is over.
    const { rows } = await sql<{ wait: number }>`
      select extract(epoch from ready_at - now())::float8 * 1000 as wait from webhooks.destinations
      where key = webhooks.destination_key('org_1', null, 'http://alive.example/')`.execute(testDb.db)
    expect(rows[0]?.wait).toBeGreaterThan(100)
    expect(rows[0]?.wait).toBeLessThanOrEqual(200)
    await sql`update webhooks.destinations set ready_at = now() where key = webhooks.destination_key('org_1', null, 'http://alive.example/')`.execute(
      testDb.db,
    )
    expect(ids(await claim({ poolId: 'pool_b' }))).toEqual([id])
  })

  it('sends nothing to a destination backing off until its pause ends, then one probe at a time', async () => {
    const due = await deliveries('http://down.example/', 3)
    await destination('http://down.example/', {
      send_window: 1,
      backoff_since: new Date(),
      backoff_until: new Date(Date.now() + 300),
    })
    expect(await claim()).toEqual([])
    await sql`update webhooks.destinations set ready_at = now(), backoff_until = now() - interval '1 millisecond'
      where key = webhooks.destination_key('org_1', null, 'http://down.example/')`.execute(testDb.db)
    expect(ids(await claim())).toEqual(due.slice(0, 1))
    expect(await claim()).toEqual([])
  })

  it('passes over the destinations it is told to', async () => {
    const skipped = await deliveries('http://skip.example/', 1)
    const taken = await deliveries('http://take.example/', 1)
    const skip = await destination('http://skip.example/')
    await destination('http://take.example/')
    expect(ids(await claim({ passedOver: [skip] }))).toEqual(taken)
    expect(ids(await claim())).toEqual(skipped)
  })

  it('keeps to an endpoint rate limit: its burst now, the next when a token is due', async () => {
    await sql`insert into webhooks.endpoints (id, org_id, url, secret, rate_limit)
      values ('ep_rate', 'org_1', 'http://rate.example/', 'whsec_x', 20)`.execute(testDb.db)
    const made = Array.from({ length: 5 }, (_, i) => `dlv_rate_${i}`)
    await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
      select id, 'evt_claim', 'org_1', 'ep_rate_' || id, 'ep_rate', 'http://rate.example/'
      from unnest(${made}::text[]) id`.execute(testDb.db)
    await enqueue(testDb.db, made, { dueAt: new Date(Date.now() - 1_000) })
    await sql`update webhooks.destinations set send_window = 100 where endpoint_id = 'ep_rate'`.execute(
      testDb.db,
    )
    // 20 a second: a burst of 2 (a tenth of a second's worth), then one every 50 ms.
    expect(await claim()).toHaveLength(2)
    const { rows } = await sql<{ tokens: number; wait: number }>`
      select tokens, extract(epoch from ready_at - now())::float8 * 1000 as wait from webhooks.destinations
      where endpoint_id = 'ep_rate'`.execute(testDb.db)
    expect(rows[0]?.tokens).toBeLessThan(1)
    expect(rows[0]?.wait).toBeGreaterThan(0)
    expect(rows[0]?.wait).toBeLessThanOrEqual(50)
  })
})
