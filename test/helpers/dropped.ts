import type { TestDb } from './database.ts'

let batch = 0

/**
 * Writes `n` dropped deliveries to an endpoint (one event each), made `minutesAgo` minutes ago,
 * as if their attempts had all failed. Returns their ids in id order.
 */
export async function seedDropped(
  testDb: TestDb,
  org: string,
  endpointId: string,
  n: number,
  minutesAgo = 10,
): Promise<string[]> {
  const tag = `${process.pid}_${++batch}`
  const { rows } = await testDb.pool.query<{ id: string }>(
    `with e as (
       insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
       select 'evt_' || $4 || '_' || lpad(i::text, 6, '0'), $1, 'image.completed', 'img_' || $4 || '_' || i,
         json_build_object('id', 'img_' || $4 || '_' || i), now() - $5 * interval '1 minute', now()
       from generate_series(1, $3) i
       returning id, created_at)
     insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, status, attempts,
       failures, created_at, dropped_at, last_error)
     select 'dlv_' || substr(e.id, 5), e.id, $1, $2, $2, ep.url, 'dropped', 1, 1, e.created_at, now(),
       'http_500: the receiver answered 500'
     from e, webhooks.endpoints ep where ep.id = $2
     returning id`,
    [org, endpointId, n, tag, minutesAgo],
  )
  return rows.map((row) => row.id).sort()
}
