import type { RawBuilder } from 'kysely'
import { sql } from 'kysely'
import type { Db, LiveStatus } from './database.ts'

/** What to replay: one delivery, every delivery of one event, or the dropped ones of an endpoint or org. */
export type ReplaySelector =
  | { by: 'delivery'; deliveryId: string }
  | { by: 'event'; eventId: string }
  | { by: 'endpoint'; endpointId: string; since?: Date | undefined; until?: Date | undefined }
  | { by: 'org'; orgId: string; since?: Date | undefined; until?: Date | undefined }

/**
 * Why a matched delivery is not replayed: it is already pending or being attempted (a replay
 * never starts a second retry chain), or its destination cannot receive it (a disabled or deleted
 * endpoint, or a render URL of an org without a signing secret), so the worker would drop it
 * again at once.
 */
export type SkipReason = 'in_progress' | 'destination_inactive'

export type ReplayCandidate = {
  id: string
  event_id: string
  event_type: string
  org_id: string
  destination: string
  endpoint_id: string | null
  url: string
  status: LiveStatus
  replays: number
  skip: SkipReason | null
}

export type ReplaySummary = { matched: number; replayed: number; skipped: number }

export type ReplayOptions = {
  dryRun?: boolean
  /** Deliveries selected and replayed per transaction. */
  batchSize?: number
  /** Called after each batch committed: progress bars, and tests that interrupt a run. */
  onBatch?: (batch: ReplayCandidate[], replayed: ReadonlySet<string>, soFar: ReplaySummary) => void
}

const BATCH_SIZE = 500

const isBulk = (selector: ReplaySelector) => selector.by === 'endpoint' || selector.by === 'org'

// Whether the worker could send delivery `d` now, rather than drop it with endpoint_disabled
// or no_signing_secret.
const destinationActive = sql`case when d.endpoint_id is null
  then exists (select 1 from webhooks.org_secrets s where s.org_id = d.org_id)
  else exists (select 1 from webhooks.endpoints ep
               where ep.id = d.endpoint_id and ep.enabled and ep.deleted_at is null) end`

/** Dropped, in the terms of the indexes of dropped deliveries (dropped_at is set exactly then). */
const DROPPED = sql`d.status = 'dropped' and d.dropped_at is not null`

/** The deliveries a selector matches. Bulk selectors match dropped deliveries only. */
function matches(selector: ReplaySelector): RawBuilder<unknown> {
  const range = (since?: Date, until?: Date) =>
    sql`${since === undefined ? sql`true` : sql`d.created_at >= ${since}`}
      and ${until === undefined ? sql`true` : sql`d.created_at < ${until}`}`
  switch (selector.by) {
    case 'delivery':
      return sql`d.id = ${selector.deliveryId}`
    case 'event':
      return sql`d.event_id = ${selector.eventId}`
    case 'endpoint':
      return sql`d.endpoint_id = ${selector.endpointId} and ${DROPPED}
        and ${range(selector.since, selector.until)}`
    case 'org':
      return sql`d.org_id = ${selector.orgId} and ${DROPPED}
        and ${range(selector.since, selector.until)}`
  }
}

/** How many deliveries the selector matches now (the total of a progress bar). */
export async function countMatches(db: Db, selector: ReplaySelector): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from webhooks.deliveries d where ${matches(selector)}`.execute(db)
  return rows[0]?.n ?? 0
}

/**
 * The next `limit` matched deliveries after id `after`, in id order: a keyset cursor, so a run
 * walks the matches once however many there are, and a run interrupted and started again finds
 * only what is still dropped.
 */
export async function selectCandidates(
  db: Db,
  selector: ReplaySelector,
  after: string,
  limit: number,
): Promise<ReplayCandidate[]> {
  const { rows } = await sql<ReplayCandidate>`
    select d.id, d.event_id, e.type as event_type, d.org_id, d.destination, d.endpoint_id, d.url,
      case when q.leased then 'in_flight' else d.status end as status, coalesce(q.replays, d.replays) as replays,
      case when d.status = 'pending' then 'in_progress'
           when not ${destinationActive} then 'destination_inactive' end as skip
    from webhooks.deliveries d
    left join webhooks.delivery_queue q on q.delivery_id = d.id
    join webhooks.events e on e.id = d.event_id
    where ${matches(selector)} and d.id > ${after}
    order by d.id
    limit ${limit}`.execute(db)
  return rows
}

/**
 * Queues finished deliveries again (webhooks.replay_deliveries), keeping their ids, with a fresh
 * retry budget, and wakes the dispatchers. Only deliveries that are finished (delivered or
 * dropped; dropped only, when `droppedOnly`) and whose destination is active are touched: the
 * status check runs inside the UPDATE, so concurrent replays of the same deliveries cannot both
 * succeed. Returns the ids replayed. Their next attempts carry the new `replays` as
 * attempts.replay_no.
 */
export async function replayDeliveries(
  db: Db,
  ids: readonly string[],
  droppedOnly: boolean,
): Promise<string[]> {
  if (ids.length === 0) {
    return []
  }
  const { rows } = await sql<{ delivery_id: string }>`
    select delivery_id from webhooks.replay_deliveries(${[...ids]}::text[], ${droppedOnly})`.execute(db)
  return rows.map((row) => row.delivery_id)
}

/**
 * Walks every delivery the selector matches, in batches, replaying those that can be (or, with
 * dryRun, only reporting them). Idempotent: a bulk run matches dropped deliveries only, so after
 * an interruption, running it again replays just what is still dropped.
 */
export async function replay(
  db: Db,
  selector: ReplaySelector,
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const batchSize = options.batchSize ?? BATCH_SIZE
  const summary: ReplaySummary = { matched: 0, replayed: 0, skipped: 0 }
  let after = ''
  for (;;) {
    const batch = await selectCandidates(db, selector, after, batchSize)
    const last = batch.at(-1)
    if (last === undefined) {
      return summary
    }
    after = last.id
    const eligible = batch.filter((c) => c.skip === null).map((c) => c.id)
    const replayed = new Set(
      options.dryRun ? eligible : await replayDeliveries(db, eligible, isBulk(selector)),
    )
    summary.matched += batch.length
    summary.replayed += options.dryRun ? 0 : replayed.size
    summary.skipped += batch.length - replayed.size
    options.onBatch?.(batch, replayed, { ...summary })
  }
}
