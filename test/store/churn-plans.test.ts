import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { explained } from '../helpers/plans.ts'
import { enqueue } from '../helpers/queue.ts'

// Migration 0021: the claim, the outcome write and the fan-out look rows up by index even where
// the statistics say a table is a few pages, since under load those tables are mostly dead row
// versions that sequential and bitmap scans read on every call.

const FUNCTIONS = ['claim_deliveries', 'record_outcomes', 'fan_out']

let testDb: TestDb
/** Each function's settings as the migrations left them, read before any test changes them. */
let migrated: Array<{ proname: string; proconfig: string[] | null }>
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_churn')
  const { rows } = await testDb.pool.query<{ proname: string; proconfig: string[] | null }>(
    `select proname, proconfig from pg_proc
     where pronamespace = 'webhooks'::regnamespace and proname = any($1) order by proname`,
    [FUNCTIONS],
  )
  migrated = rows
  await testDb.pool.query(`insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight)
    values ('ep_churn', 'org_1', 'http://127.0.0.1:9/', 'whsec_x', 10)`)
  await testDb.pool.query(`insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
    values ('evt_churn_new', 'org_1', 'image.completed', 'img_new', '{}', now())`)
  await testDb.pool.query('analyze')
})
afterAll(async () => {
  await testDb?.drop()
})

/** Queues three deliveries, then claims them, writes their outcomes and fans an event out. */
async function statementPlans(): Promise<string[]> {
  const ids = ['a', 'b', 'c'].map((x) => `dlv_churn_${x}_${Math.random().toString(36).slice(2)}`)
  await testDb.pool.query(
    `insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
     select id, 'evt_churn', 'org_1', id, 'ep_churn', 'http://127.0.0.1:9/' from unnest($1::text[]) id`,
    [ids],
  )
  await enqueue(testDb.db, ids, { dueAt: new Date(Date.now() - 1_000) })
  await testDb.pool.query(`update webhooks.destinations set send_window = 10`)
  const { plans } = await explained(testDb.pool, async (client) => {
    await client.query(
      `create temp table claimed as select * from webhooks.claim_deliveries(10, 60000, 10, 'pool_churn')`,
    )
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from claimed')
    expect(rows[0]?.n).toBeGreaterThanOrEqual(3)
    await client.query(`select webhooks.record_outcomes(
      array(select id from claimed), array(select attempts from claimed), array(select replays from claimed),
      array(select org_id from claimed), array(select endpoint_id from claimed),
      array(select destination_id from claimed), array(select now() from claimed), array(select 5 from claimed),
      array(select 200 from claimed), array(select null::text from claimed), array(select null::text from claimed),
      array(select null::text from claimed), array(select 'delivered' from claimed),
      array(select 'delivered' from claimed), array(select null::bigint from claimed),
      array(select 'answered' from claimed), 10, '{1000}')`)
    await client.query(`update webhooks.events set fanned_out_at = null where id = 'evt_churn_new'`)
    await client.query('select webhooks.fan_out(10)')
  })
  // The statements inside the functions; the test's own are left out.
  return plans.filter((plan) => !TOP_LEVEL.some((text) => plan.includes(`Query Text: ${text}`)))
}

const TOP_LEVEL = [
  'create temp table claimed',
  'select count(*)::int as n from claimed',
  'select webhooks.record_outcomes(',
  'update webhooks.events set fanned_out_at = null',
  'select webhooks.fan_out(10)',
]

/** Text found only in the claim's two statements. */
const CLAIM_STATEMENTS = ['where d.ready_at <= now()', 'with sized as']

const READS_DEAD_VERSIONS = /Seq Scan on (destinations|delivery_queue|deliveries|events)|Bitmap Heap Scan/

describe('the dispatcher functions under churn', () => {
  it('are set up by the migrations to find rows by index', () => {
    // A later migration that redefines one of them (CREATE OR REPLACE FUNCTION) resets its
    // settings to those it states: it must state these again, or this fails.
    // All three plan once per connection (0030), joining lists by hash and tables by lookups.
    expect(migrated).toEqual(
      [...FUNCTIONS].sort().map((proname) => ({
        proname,
        proconfig: [
          'enable_seqscan=off',
          'enable_bitmapscan=off',
          'enable_nestloop=off',
          'enable_mergejoin=off',
          'jit=off',
          'plan_cache_mode=force_generic_plan',
        ],
      })),
    )
  })

  it('would be planned with scans that read every dead version in a database this small', async () => {
    // The check below can fail: without the settings, the planner picks such scans here.
    for (const fn of FUNCTIONS) {
      await testDb.pool.query(`alter function webhooks.${fn} reset all`)
    }
    try {
      expect((await statementPlans()).join('\n')).toMatch(READS_DEAD_VERSIONS)
    } finally {
      // Back as the migrations left them.
      for (const { proname, proconfig } of migrated) {
        for (const setting of proconfig ?? []) {
          const [name, value] = setting.split('=')
          await testDb.pool.query(`alter function webhooks.${proname} set ${name} = ${value}`)
        }
      }
    }
  })

  it('plan each statement once per connection (0030)', async () => {
    // A generic plan names the function's arguments as parameters; a custom plan has their
    // values written in. PostgreSQL's default plans a statement's first five calls with their
    // values (this is a connection's first call); forced generic plans do not.
    const plans = await statementPlans()
    const isClaim = (plan: string) => CLAIM_STATEMENTS.some((text) => plan.includes(text))
    for (const part of [plans.filter(isClaim), plans.filter((plan) => !isClaim(plan))]) {
      expect(part.join('\n')).toMatch(/(ANY|ALL) \(\$\d+\)/)
      expect(part.join('\n')).not.toMatch(/(ANY|ALL) \('\{/)
    }
  })

  it('find every row by index with those settings', async () => {
    const plans = await statementPlans()
    expect(plans.some((plan) => plan.includes('Index Scan using destinations_pkey'))).toBe(true)
    expect(plans.join('\n')).not.toMatch(READS_DEAD_VERSIONS)
  })
})
