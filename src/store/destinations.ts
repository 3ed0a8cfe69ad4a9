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
