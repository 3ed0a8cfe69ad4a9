import { sql } from 'kysely'
import type { Db } from '../../src/store/database.ts'

export type QueueState =
  /** Waiting for an attempt due at `dueAt` (default: now). */
  | { leased?: false; dueAt?: Date }
  /** Being attempted by worker pool `by` (default: none, as after a crash), its lease ending at `until`. */
  | { leased: true; until: Date; by?: string }

/**
 * Puts deliveries written straight into webhooks.deliveries (status pending) into the delivery
 * queue, as the fan-out does, with their destinations; a delivery already queued gets `state`.
 * Each destination is then ready at its earliest due time.
 */
export async function enqueue(db: Db, ids: readonly string[], state: QueueState = {}): Promise<void> {
  const due = state.leased ? state.until : (state.dueAt ?? null)
  const by = state.leased ? (state.by ?? null) : null
  await sql`
    insert into webhooks.destinations (key, org_id, endpoint_id, origin)
    select distinct webhooks.destination_key(d.org_id, d.endpoint_id, d.url), d.org_id, d.endpoint_id,
      case when d.endpoint_id is null then webhooks.url_origin(d.url) end
    from webhooks.deliveries d where d.id = any(${[...ids]}::text[])
    on conflict (key) do nothing`.execute(db)
  await sql`
    insert into webhooks.delivery_queue (delivery_id, destination_id, due_at, leased, leased_by, attempts,
      failures, replays, last_status_code, last_error)
    select d.id, dest.id, coalesce(${due}::timestamptz, now()), ${state.leased === true}, ${by}::text,
      d.attempts, d.failures, d.replays, d.last_status_code, d.last_error
    from webhooks.deliveries d
    join webhooks.destinations dest on dest.key = webhooks.destination_key(d.org_id, d.endpoint_id, d.url)
    where d.id = any(${[...ids]}::text[])
    on conflict (delivery_id) do update
      set due_at = excluded.due_at, leased = excluded.leased, leased_by = excluded.leased_by`.execute(db)
  await sql`
    update webhooks.destinations dest
    set ready_at = (select min(q.due_at) from webhooks.delivery_queue q where q.destination_id = dest.id)
    where dest.id in (select destination_id from webhooks.delivery_queue where delivery_id = any(${[...ids]}::text[]))`.execute(
    db,
  )
}
