import { randomBytes } from 'node:crypto'
import type { TestDb } from './database.ts'
import { enqueue } from './queue.ts'

// Old history for the prune and retention tests: events whose ids and times lie in the past.

export const DAY = 86_400_000
/** `days` days before now. */
export const ago = (days: number) => new Date(Date.now() - days * DAY)

/** An event id made at `at`, as webhooks.new_id makes them. */
export const eventId = (at: Date) =>
  `evt_${at.getTime().toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`

export type Seeded = { event: string; deliveries: string[] }

/**
 * One event made at `at` in `org`, written straight into the tables, with a delivery per entry of
 * `deliveries` (its status and when it last changed), each with two attempt rows. `fanned` false leaves the event to the fan-out.
 */
export async function seedEvent(
  testDb: TestDb,
  org: string,
  at: Date,
  deliveries: Array<{ status: string; changed?: Date }>,
  fanned = true,
): Promise<Seeded> {
  const event = eventId(at)
  await testDb.pool.query(
    `insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
     values ($1, $2, 'image.completed', $3, '{}', $4, $5)`,
    [event, org, `img_${randomBytes(6).toString('hex')}`, at, fanned ? at : null],
  )
  const ids: string[] = []
  for (const [i, delivery] of deliveries.entries()) {
    const id = `dlv_${randomBytes(8).toString('hex')}`
    ids.push(id)
    await testDb.pool.query(
      `insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts, created_at,
         updated_at, dropped_at)
       values ($1, $2, $3, $4, 'http://127.0.0.1:9/r', $5, 2, $6, $7, case when $5 = 'dropped' then $7::timestamptz end)`,
      [id, event, org, `dest_${i}`, delivery.status, at, delivery.changed ?? at],
    )
    if (delivery.status === 'pending') {
      await enqueue(testDb.db, [id])
    }
    await testDb.pool.query(
      `insert into webhooks.attempts (delivery_id, attempt_no, org_id, started_at, duration_ms, outcome)
       values ($1, 1, $2, $3, 5, 'retrying'), ($1, 2, $2, $3, 5, 'dropped')`,
      [id, org, at],
    )
  }
  return { event, deliveries: ids }
}
