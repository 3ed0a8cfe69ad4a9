import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { generateSecret } from '../../src/delivery/sign.ts'
import { createLogger } from '../../src/logger.ts'
import type { SecretBox } from '../../src/secret-box.ts'
import { migrate } from '../../src/store/migrate.ts'
import { dropDeadRunDatabases } from '../shared/run-databases.ts'
import { createNaiveSchema, NAIVE_REMAINING } from './naive-schema.ts'

export type BenchDb = {
  name: string
  url: string
  /** The bench's own connections to the bench database. */
  pool: pg.Pool
  /** A connection to the admin database: creates and drops, and lists backends without being one. */
  admin: pg.Client
  drop(): Promise<void>
}

/**
 * The bench's own connections: not counted as the dispatcher's (see BackendCpu), and kept when
 * idle, since a new backend spends ~100 ms of CPU warming its caches, which the render
 * service's warm pool would not.
 */
function benchPool(url: string, dropped: () => boolean): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 48,
    idleTimeoutMillis: 0,
    application_name: 'imtegrate-bench',
  })
  const onError = (error: Error) => {
    // pool.end() resolves before its connections have closed; DROP … WITH (FORCE) ends the rest.
    if (!dropped()) {
      console.error('bench database connection:', error.message)
    }
  }
  pool.on('error', onError)
  pool.on('connect', (client) => client.on('error', onError))
  return pool
}

/** A fresh database on the server of `adminUrl`, migrated with the project's own migrator. */
export async function createBenchDatabase(adminUrl: string): Promise<BenchDb> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: 'imtegrate-bench-admin' })
  admin.on('error', (error) => console.error('bench admin connection:', error.message))
  await admin.connect()
  // Benchmark databases are iwb_<pid>_<random>; those of dead runs are dropped first.
  await dropDeadRunDatabases(admin, 'iwb')
  const name = `iwb_${process.pid}_${randomBytes(4).toString('hex')}`
  await admin.query(`create database ${pg.escapeIdentifier(name)}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  let dropped = false
  const pool = benchPool(url.toString(), () => dropped)
  const drop = async () => {
    if (dropped) {
      return
    }
    dropped = true
    await pool.end().catch(() => undefined)
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
    await admin.end()
  }
  try {
    await migrate(pool, createLogger('warn', process.stderr))
    await createNaiveSchema(pool)
  } catch (error) {
    await drop()
    throw error
  }
  return { name, url: url.toString(), pool, admin, drop }
}

export const ORG = 'org_bench'
export const ORG_TEN = 'org_ten'
/** One endpoint that allows 64 requests in flight: one destination, not held back by its cap. */
export const ORG_ONE = 'org_one'
/** `org_many_0` … : as many orgs as destinations, each sending its renders' own webhook_url. */
export const ORG_MANY = 'org_many'
/** `org_hang_0` … `org_hang_9`: orgs whose receivers accept requests and never answer. */
export const ORG_HANG = 'org_hang'
export const HANGING_DESTINATIONS = 10
/** Rows of the render service's stand-in table; each recording client updates its own slice. */
export const RENDER_ROWS = 40_000

/**
 * The render service's table, the org secret that signs render URLs, and an org with ten
 * endpoints at the receiver. Secrets are sealed, as in production, so each attempt pays for
 * opening one.
 */
export async function seedDestinations(
  pool: pg.Pool,
  box: SecretBox,
  url: (path: string) => string,
  manyOrgs: number,
) {
  await pool.query(`create table public.bench_renders (
    id bigint primary key, status text not null, updated_at timestamptz not null)`)
  await pool.query(
    "insert into public.bench_renders select g, 'rendering', now() from generate_series(1, $1::int) g",
    [RENDER_ROWS],
  )
  const orgs = [
    ORG,
    ...Array.from({ length: manyOrgs }, (_, i) => `${ORG_MANY}_${i}`),
    ...Array.from({ length: HANGING_DESTINATIONS }, (_, i) => `${ORG_HANG}_${i}`),
  ]
  await pool.query(
    'insert into webhooks.org_secrets (org_id, secret) select * from unnest($1::text[], $2::text[])',
    [orgs, orgs.map(() => box.seal(generateSecret()))],
  )
  await pool.query(
    'insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight) values ($1, $2, $3, $4, 64)',
    ['ep_bench_one', ORG_ONE, url('/one'), box.seal(generateSecret())],
  )
  for (let i = 0; i < 10; i++) {
    await pool.query('insert into webhooks.endpoints (id, org_id, url, secret) values ($1, $2, $3, $4)', [
      `ep_bench_${i}`,
      ORG_TEN,
      url(`/ep/${i}`),
      box.seal(generateSecret()),
    ])
  }
  await pool.query('vacuum analyze public.bench_renders')
}

export type EventBatch = {
  org: string
  prefix: string
  count: number
  webhookUrl: string | null
  /** Set: the renders are spread over orgs `<org>_0` … `<org>_<orgs - 1>` in turn. */
  orgs?: number
}

/** Records `count` completed renders through record_render_status, 5,000 per transaction. */
export async function recordEvents(pool: pg.Pool, batch: EventBatch, from = 0): Promise<void> {
  const CHUNK = 5_000
  for (let first = from; first < from + batch.count; first += CHUNK) {
    const last = Math.min(from + batch.count, first + CHUNK) - 1
    await pool.query(
      `select count(webhooks.record_render_status(
         org_id => case when $6::int > 0 then $1 || '_' || g % $6::int else $1 end,
         render_id => $2 || g, kind => 'image',
         status => 'completed', template_id => 'tpl_bench',
         result_url => 'https://storage.imtegrate.com/renders/' || $2 || g || '.png',
         duration_ms => 3210, webhook_url => $3))
       from generate_series($4::int, $5::int) g`,
      [batch.org, batch.prefix, batch.webhookUrl, first, last, batch.orgs ?? 0],
    )
  }
}

/**
 * Events not fanned out yet plus deliveries due or in flight: the dispatcher's work left, and
 * the naive dispatcher's in its own schema.
 */
export async function remainingWork(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`select
    (select count(*) from webhooks.events where fanned_out_at is null)
    + (select count(*) from webhooks.delivery_queue where leased or due_at <= now())
    + ${NAIVE_REMAINING} as n`)
  return Number(rows[0]?.n ?? 0)
}

/** Polls `check` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)
    }
    await delay(everyMs)
  }
}

/** Fans out every recorded event with the worker's own SQL, as a running worker would have. */
export async function fanOutAll(pool: pg.Pool): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>('select webhooks.fan_out(500) as n')
    if ((rows[0]?.n ?? 0) === 0) {
      return
    }
  }
}

/** Vacuums and analyzes the webhooks tables a drain reads and writes. */
export async function vacuumWebhooks(pool: pg.Pool): Promise<void> {
  await pool.query(
    'vacuum analyze webhooks.events, webhooks.deliveries, webhooks.delivery_queue, webhooks.destinations, webhooks.attempts',
  )
}

/**
 * Vacuums and analyzes the webhooks tables and flushes the setup's writes with a CHECKPOINT, so
 * a measurement shares the machine neither with autovacuum catching up nor with a checkpoint
 * that the bench's own bulk writes triggered (500,000 rows are half a gigabyte of WAL).
 */
export async function settleDatabase(pool: pg.Pool, log: (line: string) => void): Promise<void> {
  await vacuumWebhooks(pool)
  await pool.query('checkpoint').catch((error: Error) => {
    log(`no CHECKPOINT (${error.message}): a checkpoint may land in a measurement`)
  })
}

export async function waitDrained(pool: pg.Pool, timeoutMs: number): Promise<void> {
  await until('the worker to drain', async () => (await remainingWork(pool)) === 0, timeoutMs, 20)
}

/** Every hanging destination holds at least one request. */
export async function allHanging(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(distinct destination_id)::int as n from webhooks.delivery_queue q
     join webhooks.destinations d on d.id = q.destination_id
     where d.org_id like $1 and q.leased`,
    [`${ORG_HANG}_%`],
  )
  return (rows[0]?.n ?? 0) >= HANGING_DESTINATIONS
}

/** Takes the hanging destinations' deliveries out of the queue, dropped; returns how many. */
export async function clearHanging(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `with gone as (
       delete from webhooks.delivery_queue q using webhooks.destinations d
       where d.id = q.destination_id and d.org_id like $1
       returning q.delivery_id
     ), dropped as (
       update webhooks.deliveries set status = 'dropped', dropped_at = now(), updated_at = now(),
         last_error = 'cleared by the benchmark'
       where id in (select delivery_id from gone) and status = 'pending'
       returning 1
     )
     select count(*)::int as n from dropped`,
    [`${ORG_HANG}_%`],
  )
  return rows[0]?.n ?? 0
}
