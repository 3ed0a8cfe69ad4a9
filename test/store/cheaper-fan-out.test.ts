import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { explained } from '../helpers/plans.ts'

// Migration 0019: the helpers fanning out runs for every delivery are inlined expressions (a
// function PostgreSQL runs on its own costs tens of microseconds a call), they give what they
// gave before, and a fan-out reads the batch's events by id, not the org's whole history.

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await testDb?.drop()
})

/** The plan of `select <expression over column u>` over two rows, as EXPLAIN VERBOSE prints it. */
async function planOf(expression: string): Promise<string> {
  const { rows } = await testDb.pool.query<{ 'QUERY PLAN': string }>(
    `explain verbose select ${expression} from (values ('http://a.example/x', 'image.completed'), ('b', 'video.failed')) v(u, t)`,
  )
  return rows.map((row) => row['QUERY PLAN']).join('\n')
}

// What 0013's url_origin returned for each of these: the origin, lower-cased, with the port.
const ORIGINS: Array<[string | null, string | null]> = [
  ['http://127.0.0.1:9/many', 'http://127.0.0.1:9'],
  ['HTTPS://Example.COM/x', 'https://example.com:443'],
  ['https://example.com:443/x', 'https://example.com:443'],
  ['http://[::1]:8080/a', 'http://[::1]:8080'],
  ['http://[::1]/a', 'http://[::1]:80'],
  ['http://h:123456/', 'http://h:12345'],
  ['http://h:/x', 'http://h:80'],
  ['http://a.b?x', 'http://a.b:80'],
  ['https://a.b#f', 'https://a.b:443'],
  ['http://user@h:99/', 'http://user@h:99'],
  ['http://h:0/', 'http://h:0'],
  ['http://', 'http://:80'],
  ['nonsense', null],
  [null, null],
]

describe('url_origin', () => {
  it('gives the origin 0013 gave, for every form of URL', async () => {
    const { rows } = await sql<{ url: string | null; origin: string | null }>`
      select u.url, webhooks.url_origin(u.url) as origin
      from unnest(${ORIGINS.map(([url]) => url)}::text[]) with ordinality u(url, n) order by u.n`.execute(
      testDb.db,
    )
    expect(rows.map((row) => [row.url, row.origin])).toEqual(ORIGINS)
  })

  it('is inlined into the query that uses it, as is destination_key', async () => {
    const plan = await planOf("webhooks.destination_key('org_1', null, u)")
    expect(plan).toContain('substring')
    expect(plan).not.toContain('url_origin')
  })
})

describe('delivery_targets', () => {
  it('keys a render URL and gives its origin as destination_key and url_origin do (0024)', async () => {
    const urls = ORIGINS.map(([url]) => url).filter((url): url is string => url !== null)
    // Two orgs per URL, so that one origin serves events of different orgs.
    await testDb.pool.query(
      `insert into webhooks.events (id, org_id, type, subject_id, data, created_at, webhook_url, fanned_out_at)
       select 'evt_key_' || u.n || '_' || o.org, o.org, 'image.completed', 'img_key_' || u.n || '_' || o.org, '{}',
         now(), u.url, now()
       from unnest($1::text[]) with ordinality u(url, n) cross join (values ('org_k1'), ('org_k2')) o(org)`,
      [urls],
    )
    const { rows } = await testDb.pool.query<{ same: boolean; n: number }>(
      `select bool_and(t.destination_key = webhooks.destination_key(t.org_id, null, t.url)
                       and t.origin is not distinct from webhooks.url_origin(t.url)) as same, count(*)::int as n
       from webhooks.delivery_targets(array(select id from webhooks.events where id like 'evt_key_%')) t`,
    )
    expect(rows[0]).toEqual({ same: true, n: urls.length * 2 })
  })
})

describe('event_type_matches', () => {
  it('matches no patterns, a type, its family and *, and nothing else', async () => {
    const cases: Array<[string[] | null, string, boolean]> = [
      [null, 'image.completed', true],
      [['image.completed'], 'image.completed', true],
      [['image.failed', 'video.*'], 'video.completed', true],
      [['image.*'], 'image.failed', true],
      [['*'], 'collection.completed', true],
      [['image.completed'], 'image.failed', false],
      [['video.*'], 'image.completed', false],
      [['collection.*'], 'collectionx.completed', false],
    ]
    for (const [patterns, type, expected] of cases) {
      const { rows } = await sql<{ matches: boolean }>`
        select webhooks.event_type_matches(${patterns}::text[], ${type}) as matches`.execute(testDb.db)
      expect({ patterns, type, matches: rows[0]?.matches }).toEqual({ patterns, type, matches: expected })
    }
  })

  it('is inlined into the query that uses it', async () => {
    const plan = await planOf("webhooks.event_type_matches(array['image.*'], t)")
    expect(plan).toContain('split_part')
    expect(plan).not.toContain('event_type_matches')
  })
})

describe('fanning out an org with a long history', () => {
  it('looks the batch up by key, not by reading every event of the org or the table', async () => {
    const pool = testDb.pool
    await pool.query(`insert into webhooks.endpoints (id, org_id, url, secret, event_types)
      values ('ep_hist', 'org_hist', 'https://hist.example/hook', 'sealed', '{image.*}')`)
    // 20 new events of the org, then 5,000 it recorded before that the statistics have not
    // seen yet (they lag behind a growing table): the planner believes the org has few events.
    await pool.query(`insert into webhooks.events (id, org_id, type, subject_id, data, created_at, webhook_url)
      select 'evt_new_' || g, 'org_hist', 'image.completed', 'img_new_' || g, '{}', now(),
        'https://render.example/cb'
      from generate_series(1, 20) g`)
    await pool.query('analyze webhooks.events')
    await pool.query(`insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
      select 'evt_old_' || g, 'org_hist', 'image.completed', 'img_old_' || g, '{}', now(), now()
      from generate_series(1, 5000) g`)

    // The plans of the statements inside, as auto_explain reports them to this session.
    const { result, plans } = await explained(pool, (client) =>
      client.query<{ n: number }>('select webhooks.fan_out(500) as n'),
    )
    expect(result.rows[0]?.n).toBe(20)
    // The batch's targets are read once (0022), then both inserts take them from arrays.
    const targets = plans.filter((plan) => plan.includes('webhooks.delivery_targets(batch)'))
    expect(targets).toHaveLength(1)
    for (const plan of targets) {
      expect(plan).toContain('Index Scan using events_pkey on events')
      // Not by org: events_subject leads with org_id (an org's endpoints are looked up by it).
      expect(plan).not.toMatch(/Seq Scan on events|using events_subject on events/)
    }

    const { rows } = await pool.query<{ destination: string; n: number }>(
      `select destination, count(*) as n from webhooks.deliveries where event_id like 'evt_new_%'
       group by destination order by destination`,
    )
    expect(rows).toEqual([
      { destination: 'ep_hist', n: 20 },
      { destination: 'render_url', n: 20 },
    ])
  })
})

describe('fan_out of chosen events', () => {
  it('fans an event named twice out once (0026)', async () => {
    await testDb.pool.query(`insert into webhooks.events (id, org_id, type, subject_id, data, created_at, webhook_url)
      values ('evt_twice', 'org_twice', 'image.completed', 'img_twice', '{}', now(), 'https://twice.example/cb')`)
    const { rows } = await testDb.pool.query<{ n: number }>(
      `select webhooks.fan_out(10, array['evt_twice', 'evt_twice', 'evt_missing']) as n`,
    )
    expect(rows[0]?.n).toBe(1)
    const { rows: made } = await testDb.pool.query<{ deliveries: number; queued: number }>(
      `select count(*)::int as deliveries,
         (select count(*)::int from webhooks.delivery_queue q join webhooks.deliveries d on d.id = q.delivery_id
          where d.event_id = 'evt_twice') as queued
       from webhooks.deliveries where event_id = 'evt_twice'`,
    )
    expect(made[0]).toEqual({ deliveries: 1, queued: 1 })
  })
})
