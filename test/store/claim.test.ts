import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimDeliveries } from '../../src/store/deliveries.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_claim')
  // Five due deliveries, and five whose lease expired mid-attempt (attempt 2 was in flight).
  await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts,
      next_attempt_at, lease_until)
    select 'dlv_due_' || i, 'evt_claim', 'org_1', 'due' || i, 'http://127.0.0.1:9/', 'pending', 0,
      now() - interval '1 second', null from generate_series(1, 5) i
    union all
    select 'dlv_expired_' || i, 'evt_claim', 'org_1', 'expired' || i, 'http://127.0.0.1:9/', 'in_flight', 2,
      null, now() - interval '2 seconds' from generate_series(1, 5) i`.execute(testDb.db)
})
afterAll(async () => {
  await testDb?.drop()
})

describe('claimDeliveries', () => {
  it('never leases more than its limit, taking what has waited longest first', async () => {
    // The leases ran out two seconds ago, the due work came due one second ago.
    const first = await claimDeliveries(testDb.db, 7, 60_000)
    expect(first).toHaveLength(7)
    expect(first.filter((d) => d.id.startsWith('dlv_expired_'))).toHaveLength(5)
    const rest = await claimDeliveries(testDb.db, 7, 60_000)
    expect(rest.map((d) => d.id).sort()).toEqual(
      ['dlv_due_1', 'dlv_due_2', 'dlv_due_3', 'dlv_due_4', 'dlv_due_5']
        .filter((id) => !first.some((d) => d.id === id))
        .sort(),
    )
    expect(await claimDeliveries(testDb.db, 7, 60_000)).toEqual([])
  })

  it('logs the attempt an expired lease lost, and numbers the next attempt after it', async () => {
    const { rows } = await sql<{ attempt_no: number; outcome: string; error_code: string }>`
      select attempt_no, outcome, error_code from webhooks.attempts
      where delivery_id like 'dlv_expired_%' order by delivery_id`.execute(testDb.db)
    expect(rows).toEqual(Array(5).fill({ attempt_no: 2, outcome: 'lost', error_code: 'worker_lost' }))
    const attempts = await testDb.db
      .selectFrom('webhooks.deliveries')
      .select('attempts')
      .where('id', 'like', 'dlv_expired_%')
      .execute()
    expect(attempts.map((d) => d.attempts)).toEqual([3, 3, 3, 3, 3])
  })
})

describe('claimDeliveries under a steady backlog', () => {
  let backlogDb: TestDb
  beforeAll(async () => {
    backlogDb = await createDatabaseWithEvent('evt_backlog')
  })
  afterAll(async () => {
    await backlogDb?.drop()
  })

  it('reclaims an expired lease even while more due work keeps arriving than a claim takes', async () => {
    // Regression: due work filled every claim first, so a dead worker's deliveries waited as long
    // as the backlog lasted. Each round adds more fresh due work than the claim can take.
    await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts,
        next_attempt_at, lease_until)
      select 'dlv_orphan_' || i, 'evt_backlog', 'org_1', 'orphan' || i, 'http://127.0.0.1:9/', 'in_flight', 1,
        null, now() - interval '1 second' from generate_series(1, 3) i`.execute(backlogDb.db)
    const reclaimed: string[] = []
    for (let round = 0; round < 3; round++) {
      await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, next_attempt_at)
        select 'dlv_fresh_' || ${round} || '_' || i, 'evt_backlog', 'org_1', 'fresh' || ${round} || '_' || i,
          'http://127.0.0.1:9/', 'pending', now() - interval '10 milliseconds'
        from generate_series(1, 20) i`.execute(backlogDb.db)
      const claimed = await claimDeliveries(backlogDb.db, 10, 60_000)
      expect(claimed).toHaveLength(10)
      reclaimed.push(...claimed.filter((d) => d.id.startsWith('dlv_orphan_')).map((d) => d.id))
    }
    expect(reclaimed.sort()).toEqual(['dlv_orphan_1', 'dlv_orphan_2', 'dlv_orphan_3'])
  })
})
