import { sql } from 'kysely'
import type { Db } from './database.ts'

/**
 * Fans out up to `limit` recorded events (or only those of `only`) in one call
 * (webhooks.fan_out): one delivery per destination (the event's own webhook_url, and every
 * enabled endpoint of its org subscribed to its type), queued and due now; then marks the events
 * fanned out. Idempotent, and safe from several dispatchers at once. Returns how many events.
 */
export async function fanOutEvents(db: Db, limit: number, only?: readonly string[]): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select webhooks.fan_out(${limit}::integer, ${only === undefined ? null : [...only]}::text[]) as n`.execute(
    db,
  )
  return rows[0]?.n ?? 0
}

/** The ids of the next `limit` events waiting to be fanned out, as fanOutEvents takes them. */
export async function unfannedEvents(db: Db, limit: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select id from webhooks.events where fanned_out_at is null order by id limit ${limit}`.execute(db)
  return rows.map((row) => row.id)
}

/**
 * Sets aside an event that cannot be fanned out: marked with the error (events.fan_out_error)
 * and taken out of the outbox, so it no longer holds up the events after it. An operator who
 * removed the cause puts it back with `fanned_out_at = null, fan_out_error = null`.
 */
export async function setEventAside(db: Db, id: string, error: string): Promise<void> {
  await sql`
    update webhooks.events set fanned_out_at = now(), fan_out_error = ${error.slice(0, 1000)}
    where id = ${id} and fanned_out_at is null`.execute(db)
}
