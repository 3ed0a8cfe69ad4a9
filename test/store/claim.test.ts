import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimDeliveries } from '../../src/store/deliveries.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
  await sql`insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
    values ('evt_claim', 'org_1', 'image.completed', 'img_1', '{}', now(), now())`.execute(testDb.db)
  // Five due deliveries, and five whose lease expired mid-attempt (attempt 2 was in flight).
  await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts,
      next_attempt_at, lease_until)
    select 'dlv_due_' || i, 'evt_claim', 'org_1', 'due' || i, 'http://127.0.0.1:9/', 'pending', 0,
      now() - interval '1 second', null from generate_series(1, 5) i
    union all
    select 'dlv_expired_' || i, 'evt_claim', 'org_1', 'expired' || i, 'http://127.0.0.1:9/', 'in_flight', 2,
      null, now() - interval '1 second' from generate_series(1, 5) i`.execute(testDb.db)
})
afterAll(async () => {
  await testDb?.drop()
})

describe('claimDeliveries', () => {
  it('never leases more than its limit, taking due work before expired leases', async () => {
    const first = await claimDeliveries(testDb.db, 7, 60_000)
    expect(first).toHaveLength(7)
    expect(first.filter((d) => d.id.startsWith('dlv_due_'))).toHaveLength(5)
    const rest = await claimDeliveries(testDb.db, 7, 60_000)
    expect(rest.map((d) => d.id).sort()).toEqual(
      ['dlv_expired_1', 'dlv_expired_2', 'dlv_expired_3', 'dlv_expired_4', 'dlv_expired_5']
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
