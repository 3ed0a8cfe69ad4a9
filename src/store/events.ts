import { sql } from 'kysely'
import type { Db } from './database.ts'

/**
 * Fans out up to `limit` recorded events in one statement: one delivery per destination (the
 * event's own webhook_url, and every enabled endpoint of its org subscribed to its type), then
 * marks the events fanned out. Idempotent: (event, destination) is unique, and events are
 * claimed with SKIP LOCKED so concurrent dispatchers split the work. Returns how many events.
 */
export async function fanOutEvents(db: Db, limit: number): Promise<number> {
  const result = await sql`
    with batch as (
      select id, org_id, type, webhook_url from webhooks.events
      where fanned_out_at is null
      order by id
      limit ${limit}
      for update skip locked
    ), targets as (
      select b.id as event_id, b.org_id, 'render_url' as destination, null::text as endpoint_id, b.webhook_url as url
      from batch b where b.webhook_url is not null
      union all
      select b.id, b.org_id, ep.id, ep.id, ep.url
      from batch b
      join webhooks.endpoints ep on ep.org_id = b.org_id and ep.enabled and ep.deleted_at is null
      where webhooks.event_type_matches(ep.event_types, b.type)
    ), inserted as (
      insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, next_attempt_at)
      select webhooks.new_id('dlv'), event_id, org_id, destination, endpoint_id, url, now() from targets
      on conflict (event_id, destination) do nothing
    )
    update webhooks.events e set fanned_out_at = now()
    from batch where e.id = batch.id`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}
