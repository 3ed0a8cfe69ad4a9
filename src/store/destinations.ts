import { sql } from 'kysely'
import type { Db, DestinationStatusView } from './database.ts'

export type DestinationStatus = DestinationStatusView

/**
 * Every destination's delivery state now (webhooks.destination_status), of one org or of all:
 * requests in flight, deliveries due and waiting, healthy or backing off. Those backing off come
 * first, then the busiest.
 */
export async function listDestinations(
  db: Db,
  filter: { orgId?: string | undefined; backingOff?: boolean | undefined } = {},
): Promise<DestinationStatus[]> {
  return db
    .selectFrom('webhooks.destination_status')
    .selectAll()
    .$if(filter.orgId !== undefined, (q) => q.where('org_id', '=', filter.orgId as string))
    .$if(filter.backingOff === true, (q) => q.where('state', '=', 'backing_off'))
    .orderBy('state')
    .orderBy('due', 'desc')
    .orderBy('destination_id')
    .execute()
}

/**
 * Destinations with a delivery due that no claim would look at: waiting for nothing (ready_at
 * null), as the race migration 0020 closed could leave them, or anything not found yet could.
 * Wakes them (at the end of their backoff or set-aside, if one runs) and returns their ids;
 * none is the normal answer. Destinations a claim or an outcome holds now are not stranded.
 */
export async function wakeStranded(db: Db): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    update webhooks.destinations d
    set ready_at = greatest(now(), d.backoff_until, d.set_aside_until)
    from (select x.id from webhooks.destinations x
          where x.ready_at is null
            and exists (select 1 from webhooks.delivery_queue q
                        where q.destination_id = x.id and q.due_at <= now())
          order by x.id for update skip locked) s
    where d.id = s.id
    returning d.id`.execute(db)
  return rows.map((row) => Number(row.id))
}
