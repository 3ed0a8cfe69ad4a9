import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBacklog } from '../../src/store/backlog.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { enqueue } from '../helpers/queue.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_backlog')
})
afterAll(async () => {
  await testDb?.drop()
})

const ago = (ms: number) => new Date(Date.now() - ms)

/**
 * Deliveries of evt_backlog in one state: `count` of them, `kind` names them apart. Pending ones
 * are queued, due `dueAgoMs` ago or leased until `leaseAgoMs` ago.
 */
async function insertDeliveries(
  kind: string,
  count: number,
  fields: { status: string; dueAgoMs?: number; leaseAgoMs?: number; droppedAgo?: string },
): Promise<void> {
  const { rows } = await sql<{
    id: string
  }>`insert into webhooks.deliveries (id, event_id, org_id, destination, url,
      status, attempts, dropped_at)
    select 'dlv_' || ${kind} || i, 'evt_backlog', 'org_1', ${kind} || i, 'http://127.0.0.1:9/', ${fields.status}, 1,
      now() - ${fields.droppedAgo ?? null}::interval
    from generate_series(1, ${count}) i
    returning id`.execute(testDb.db)
  const ids = rows.map((row) => row.id)
  if (fields.leaseAgoMs !== undefined) {
    await enqueue(testDb.db, ids, { leased: true, until: ago(fields.leaseAgoMs) })
  } else if (fields.dueAgoMs !== undefined) {
    await enqueue(testDb.db, ids, { dueAt: ago(fields.dueAgoMs) })
  }
}

describe('readBacklog', () => {
  it('reads an empty backlog as zeros', async () => {
    expect(await readBacklog(testDb.db)).toEqual({
      due: 0,
      eventsAwaitingFanOut: 0,
      oldestDueSeconds: 0,
      heldBack: 0,
      awaitingRetry: 0,
      deliveriesSetAside: 0,
      eventsSetAside: 0,
      destinationsSetAside: 0,
      droppedLastHour: 0,
      destinationsBackingOff: 0,
    })
  })

  it('counts each kind of waiting work, and ages the backlog by what has waited longest', async () => {
    await insertDeliveries('due', 3, { status: 'pending', dueAgoMs: 10_000 })
    // A worker died holding these: due again since their leases ran out, 2 minutes ago.
    await insertDeliveries('expired', 2, { status: 'pending', leaseAgoMs: 120_000 })
    // Leased by a live worker: being attempted, not waiting.
    await insertDeliveries('leased', 4, { status: 'pending', leaseAgoMs: -60_000 })
    await insertDeliveries('retry', 5, { status: 'pending', dueAgoMs: -300_000 })
    await insertDeliveries('dropped_now', 6, { status: 'dropped', droppedAgo: '10 minutes' })
    await insertDeliveries('dropped_before', 7, { status: 'dropped', droppedAgo: '61 minutes' })
    await insertDeliveries('delivered', 8, { status: 'delivered' })
    // A destination backing off, its one due delivery held back (older than all the rest).
    const { rows } = await sql<{
      id: string
    }>`insert into webhooks.deliveries (id, event_id, org_id, destination, url)
      values ('dlv_held', 'evt_backlog', 'org_1', 'held', 'http://down.example/') returning id`.execute(
      testDb.db,
    )
    await enqueue(
      testDb.db,
      rows.map((row) => row.id),
      { dueAt: ago(3_600_000) },
    )
    await sql`update webhooks.destinations set backoff_since = now(), backoff_until = now() + interval '1 minute'
      where key = 'org_1 http://down.example:80'`.execute(testDb.db)
    const backlog = await readBacklog(testDb.db)
    expect(backlog).toMatchObject({
      due: 6,
      heldBack: 1,
      eventsAwaitingFanOut: 0,
      awaitingRetry: 5,
      droppedLastHour: 6,
      destinationsBackingOff: 1,
    })
    expect(backlog.oldestDueSeconds).toBeGreaterThanOrEqual(120)
    expect(backlog.oldestDueSeconds).toBeLessThan(130)
  })

  it('counts events not yet fanned out, and ages the backlog by them when they waited longer', async () => {
    await sql`insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
      select 'evt_unfanned_' || i, 'org_1', 'image.completed', 'img_u' || i, '{}', now() - interval '1 hour'
      from generate_series(1, 3) i`.execute(testDb.db)
    const backlog = await readBacklog(testDb.db)
    expect(backlog.eventsAwaitingFanOut).toBe(3)
    expect(backlog.due).toBe(6)
    expect(backlog.oldestDueSeconds).toBeGreaterThanOrEqual(3600)
    expect(backlog.oldestDueSeconds).toBeLessThan(3610)
  })

  it('counts what is set aside for an operator apart, a held delivery not as awaiting a retry', async () => {
    // Held by webhooks.hold_outcome: its outcome, then its drop, could not be written.
    await insertDeliveries('aside', 2, { status: 'pending', dueAgoMs: -300_000 })
    await sql`update webhooks.delivery_queue set due_at = 'infinity' where delivery_id like 'dlv_aside_'`.execute(
      testDb.db,
    )
    await sql`insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at, fan_out_error)
      values ('evt_aside', 'org_1', 'image.completed', 'img_aside', '{}', now(), now(), 'refused (P0001)'),
        ('evt_put_back', 'org_1', 'image.completed', 'img_put_back', '{}', now(), now(), null)`.execute(
      testDb.db,
    )
    // One destination set aside now, the other one's time aside is over.
    await sql`update webhooks.destinations set set_aside_until = case when key = 'org_1 http://down.example:80'
      then now() - interval '1 second' else now() + interval '1 minute' end`.execute(testDb.db)
    expect(await readBacklog(testDb.db)).toMatchObject({
      due: 6,
      awaitingRetry: 5,
      deliveriesSetAside: 2,
      eventsSetAside: 1,
      destinationsSetAside: 1,
    })
  })
})
