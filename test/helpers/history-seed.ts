import { afterAll, beforeAll } from 'vitest'
import type { TestDb } from './database.ts'
import { createTestDatabase } from './database.ts'
import { enqueue } from './queue.ts'

/** `dlv_000…d00n`: the seeded deliveries' ids (docs/queries.md uses d001). */
const PREFIX = `dlv_${'0'.repeat(28)}`
export const dlv = (n: number) => `${PREFIX}d${String(n).padStart(3, '0')}`

/**
 * A small, fully known history, written straight into the tables, with times relative to the
 * moment it is seeded. `today(k)` is k% of the way from midnight to now: always today, always
 * in the past, so "today" queries stay exact at any hour.
 *
 * org_1: render img_xyz (event e1) went to its render URL (d001: failed twice, dropped, replayed,
 * delivered) and to ep_1 (d002: timeout then 503, dropped today). ep_1 also got d003 (delivered
 * today), d004 (dropped 25 h ago), d007 (a lost attempt, then a failure; pending) and d010
 * (in flight). ep_2 got d005 (dropped 8 days ago), d008 (delivered 2 h ago) and d009 (delivered
 * 30 h ago). ep_3 is deleted, ep_4 disabled. org_2 has the same render id img_xyz (d006, dropped
 * 3 days ago), which org_1's queries must not show.
 */
export async function seedHistory(testDb: TestDb): Promise<void> {
  await testDb.pool.query(`
    create function pg_temp.today(k int) returns timestamptz language sql stable as
      $$ select date_trunc('day', now()) + (now() - date_trunc('day', now())) * k / 100 $$;
    create function pg_temp.ago(t text) returns timestamptz language sql stable as
      $$ select now() - t::interval $$;

    insert into webhooks.org_secrets (org_id, secret) values ('org_1', 'whsec_c2VlZA==');
    insert into webhooks.endpoints (id, org_id, url, secret, enabled, deleted_at) values
      ('ep_1', 'org_1', 'http://127.0.0.1:9/ep1', 'whsec_x', true, null),
      ('ep_2', 'org_1', 'http://127.0.0.1:9/ep2', 'whsec_x', true, null),
      ('ep_3', 'org_1', 'http://127.0.0.1:9/ep3', 'whsec_x', true, now()),
      ('ep_4', 'org_1', 'http://127.0.0.1:9/ep4', 'whsec_x', false, null);

    insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at, fanned_out_at)
    select id, org, type, subject, url, '{}', at, at from (values
      ('evt_e1', 'org_1', 'image.completed', 'img_xyz', 'http://127.0.0.1:9/render', pg_temp.today(5)),
      ('evt_e2', 'org_1', 'image.completed', 'img_other', null, pg_temp.today(5)),
      ('evt_e3', 'org_1', 'video.failed', 'img_old', null, pg_temp.ago('2 days')),
      ('evt_e4', 'org_1', 'image.failed', 'img_new', null, pg_temp.today(25)),
      ('evt_e5', 'org_2', 'image.completed', 'img_xyz', 'http://127.0.0.1:9/render', pg_temp.ago('4 days')),
      ('evt_e6', 'org_1', 'video.completed', 'vid_1', null, pg_temp.ago('9 days')),
      ('evt_e7', 'org_1', 'image.completed', 'img_recent', null, pg_temp.ago('3 hours'))
    ) as e(id, org, type, subject, url, at);

    insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, status,
      attempts, failures, replays, created_at, delivered_at, dropped_at, last_error)
    select '${PREFIX}' || n, ev, org, dest, nullif(dest, 'render_url'), 'http://127.0.0.1:9/' || dest,
      status, attempts, failures, replays, created, delivered, dropped, err
    from (values
      ('d001', 'evt_e1', 'org_1', 'render_url', 'delivered', 3, 0, 1, pg_temp.today(6), pg_temp.today(20), null::timestamptz, null),
      ('d002', 'evt_e1', 'org_1', 'ep_1', 'dropped', 2, 2, 0, pg_temp.today(7), null, pg_temp.today(13), 'http_503: the receiver answered 503'),
      ('d003', 'evt_e2', 'org_1', 'ep_1', 'delivered', 1, 0, 0, pg_temp.today(8), pg_temp.today(14), null, null),
      ('d004', 'evt_e3', 'org_1', 'ep_1', 'dropped', 1, 1, 0, pg_temp.ago('26 hours'), null, pg_temp.ago('25 hours'), 'http_500: the receiver answered 500'),
      ('d005', 'evt_e6', 'org_1', 'ep_2', 'dropped', 1, 1, 0, pg_temp.ago('9 days'), null, pg_temp.ago('8 days'), 'http_500: the receiver answered 500'),
      ('d006', 'evt_e5', 'org_2', 'render_url', 'dropped', 1, 1, 0, pg_temp.ago('4 days'), null, pg_temp.ago('3 days'), 'no_signing_secret: org org_2 has no render-webhook secret'),
      ('d007', 'evt_e4', 'org_1', 'ep_1', 'pending', 2, 1, 0, pg_temp.today(28), null, null, 'http_500: the receiver answered 500'),
      ('d008', 'evt_e7', 'org_1', 'ep_2', 'delivered', 1, 0, 0, pg_temp.ago('3 hours'), pg_temp.ago('2 hours'), null, null),
      ('d009', 'evt_e3', 'org_1', 'ep_2', 'delivered', 1, 0, 0, pg_temp.ago('31 hours'), pg_temp.ago('30 hours'), null, null),
      ('d010', 'evt_e7', 'org_1', 'ep_1', 'pending', 1, 0, 0, pg_temp.today(40), null, null, null)
    ) as d(n, ev, org, dest, status, attempts, failures, replays, created, delivered, dropped, err);

    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, status_code, error_code, error_message, outcome, response_excerpt)
    select '${PREFIX}' || n, no, replay, org, ep, at, ms, code, err, msg, outcome,
      case when n = 'd002' and no = 2 then E'{"error": "busy",\n  "retry": "later, please: the queue is full"}'
           when n = 'd001' and no = 1 then E'\x1b]0;title\x07\x1b[2Jgone 😀😀😀'
           when n = 'd001' and no = 2 then '' end
    from (values
      ('d001', 1, 0, 'org_1', null, pg_temp.today(10), 100, 500, 'http_500', 'the receiver answered 500', 'retrying'),
      ('d001', 2, 0, 'org_1', null, pg_temp.today(11), 100, 500, 'http_500', 'the receiver answered 500', 'dropped'),
      ('d001', 3, 1, 'org_1', null, pg_temp.today(20), 100, 200, null, null, 'delivered'),
      ('d002', 1, 0, 'org_1', 'ep_1', pg_temp.today(12), 100, null, 'timeout', 'no complete answer within 10s', 'retrying'),
      ('d002', 2, 0, 'org_1', 'ep_1', pg_temp.today(13), 200, 503, 'http_503', 'the receiver answered 503', 'dropped'),
      ('d003', 1, 0, 'org_1', 'ep_1', pg_temp.today(14), 300, 200, null, null, 'delivered'),
      ('d004', 1, 0, 'org_1', 'ep_1', pg_temp.ago('25 hours'), 700, 500, 'http_500', 'the receiver answered 500', 'dropped'),
      ('d005', 1, 0, 'org_1', 'ep_2', pg_temp.ago('8 days'), 10, 500, 'http_500', 'the receiver answered 500', 'dropped'),
      ('d006', 1, 0, 'org_2', null, pg_temp.ago('3 days'), 0, null, 'no_signing_secret', 'org org_2 has no render-webhook secret', 'dropped'),
      ('d007', 1, 0, 'org_1', 'ep_1', pg_temp.today(29), 0, null, 'worker_lost', 'the worker stopped', 'lost'),
      ('d007', 2, 0, 'org_1', 'ep_1', pg_temp.today(30), 400, 500, 'http_500', 'the receiver answered 500', 'retrying'),
      ('d008', 1, 0, 'org_1', 'ep_2', pg_temp.ago('2 hours'), 50, 200, null, null, 'delivered'),
      ('d009', 1, 0, 'org_1', 'ep_2', pg_temp.ago('30 hours'), 999, 200, null, null, 'delivered')
    ) as a(n, no, replay, org, ep, at, ms, code, err, msg, outcome);
  `)
  // d007 waits for its retry an hour from now; d010 is being attempted, its lease a minute long.
  await enqueue(testDb.db, [dlv(7)], { dueAt: new Date(Date.now() + 3_600_000) })
  await enqueue(testDb.db, [dlv(10)], { leased: true, until: new Date(Date.now() + 60_000) })
}

/**
 * A test database holding the seeded history (seedHistory), made before the tests of the file
 * that calls this and dropped after them. Read `testDb` inside tests and hooks.
 */
export function useSeededHistory(): { readonly testDb: TestDb } {
  let testDb: TestDb | undefined
  beforeAll(async () => {
    testDb = await createTestDatabase()
    await seedHistory(testDb)
  })
  afterAll(async () => {
    await testDb?.drop()
  })
  return {
    get testDb() {
      if (testDb === undefined) {
        throw new Error('the seeded history is used outside the tests of its file')
      }
      return testDb
    },
  }
}
