#!/usr/bin/env node
// The benchmark behind docs/benchmarks.md: `npm run bench` (full, < 10 min), `-- --quick`
// (about a minute), `-- --tiny` (seconds; what the test runs). It creates a fresh database,
// starts a receiver process on 127.0.0.1, measures every target of issue 5 with its baselines
// side by side, prints one table, drops the database, and (full mode) rewrites the table in
// docs/benchmarks.md. Progress goes to stderr; the table to stdout.
// Options: --no-write (leave docs alone), --concurrency N (the worker's WORKER_CONCURRENCY),
// --drain-events N (drain exactly N events in the RSS phase, whatever the time budget).
// Environment: BENCH_DATABASE_URL (admin URL of the server), BENCH_PG_OPTIONS (see PG_OPTIONS).
import { randomBytes } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { generateSecret } from '../src/delivery/sign.ts'
import { createSecretBox } from '../src/secret-box.ts'
import { drainWithRss, queueFutureRetries } from './bench/backlog.ts'
import { emptyJobRate, rawHttpRate } from './bench/baselines.ts'
import type { Child, DispatcherEnv, ReceiverHandle } from './bench/children.ts'
import { killAllChildren, startNaiveProcess, startReceiver, startWorkerProcess } from './bench/children.ts'
import type { BenchDb, EventBatch } from './bench/database.ts'
import {
  allHanging,
  clearHanging,
  createBenchDatabase,
  fanOutAll,
  HANGING_DESTINATIONS,
  ORG,
  ORG_HANG,
  ORG_MANY,
  ORG_ONE,
  ORG_TEN,
  recordEvents,
  seedDestinations,
  settleDatabase,
  until,
  vacuumWebhooks,
  waitDrained,
} from './bench/database.ts'
import { measureLatency } from './bench/latency.ts'
import { seedNaiveBacklog } from './bench/naive-schema.ts'
import type { Plan } from './bench/plan.ts'
import { planFromArgs } from './bench/plan.ts'
import type { RecordingRates } from './bench/recording.ts'
import { measureRecording, RECORDING_MODES } from './bench/recording.ts'
import type { Results } from './bench/report.ts'
import { buildRows, renderTable, writeDocs } from './bench/report.ts'
import { freePort, scrapeEverySecond } from './bench/scraper.ts'
import type { DrainContext } from './bench/throughput.ts'
import { measureDrain } from './bench/throughput.ts'

const ADMIN_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// Session settings for the dispatchers' connections, to try a planner setting without a code
// change (e.g. BENCH_PG_OPTIONS='-c enable_bitmapscan=off'); empty in the reference runs.
const PG_OPTIONS = process.env['BENCH_PG_OPTIONS'] ?? ''
const DOCS = new URL('../docs/benchmarks.md', import.meta.url)
const DRAIN_TIMEOUT_MS = 180_000

const began = performance.now()
const log = (line: string) =>
  console.error(`[bench ${((performance.now() - began) / 1000).toFixed(1)}s] ${line}`)

type Setup = { db: BenchDb; receiver: ReceiverHandle; env: DispatcherEnv; ctx: DrainContext }

async function baselines(s: Setup, plan: Plan): Promise<Pick<Results, 'rawHttp' | 'emptyJobs'>> {
  const { seconds, inFlight } = plan.http
  const perSecond = await rawHttpRate(s.receiver.url('/raw'), { seconds, inFlight })
  log(`raw HTTP: ${Math.round(perSecond)} requests/s`)
  const { concurrency } = plan.emptyJobs
  const plain = await emptyJobRate(s.db.url, 'default', { jobs: plan.emptyJobs.default, concurrency })
  const local = await emptyJobRate(s.db.url, 'local_queue', { jobs: plan.emptyJobs.localQueue, concurrency })
  log(`graphile-worker empty jobs: ${Math.round(plain)}/s defaults, ${Math.round(local)}/s local queue`)
  return { rawHttp: { perSecond, inFlight }, emptyJobs: { default: plain, localQueue: local, concurrency } }
}

/**
 * Backlogs recorded while no dispatcher runs, then drained by a freshly started one. The target
 * drains (1, 10 and 1,000 destinations) run in rounds, each round between two of the peer's
 * drains, so that both sides see the same moods of a noisy machine; the report compares medians.
 */
async function throughput(
  s: Setup,
  plan: Plan,
): Promise<Pick<Results, 'rounds' | 'capped' | 'manyNew' | 'singleDue' | 'manyDue'>> {
  const t = plan.throughput
  const worker = () => startWorkerProcess(s.env, s.db.pool)
  const drain = async (what: string, batch: EventBatch, deliveries = batch.count, fannedOut = false) => {
    await recordEvents(s.db.pool, batch)
    if (fannedOut) {
      await fanOutAll(s.db.pool)
    }
    // As the peer's backlog is (seedNaiveBacklog): vacuumed and analyzed before the drain, so
    // neither drains through the dead rows of the phase before it.
    await vacuumWebhooks(s.db.pool)
    const result = await measureDrain(s.ctx, deliveries, worker, DRAIN_TIMEOUT_MS)
    log(`${what}: ${Math.round(result.perSecond)} deliveries/s`)
    return result
  }
  // The naive dispatcher only delivers, on its own lean schema: it gets its backlog made for it.
  const naiveSecret = createSecretBox(s.env.secretsKey).seal(generateSecret())
  const naive = async () => {
    await seedNaiveBacklog(s.db.pool, t.naive, s.receiver.url('/naive'), naiveSecret)
    const result = await measureDrain(s.ctx, t.naive, () => startNaiveProcess(s.env), DRAIN_TIMEOUT_MS)
    log(`naive dispatcher: ${Math.round(result.perSecond)} deliveries/s`)
    return result
  }
  const overMany = (tag: string, what: string, fannedOut = false) =>
    drain(
      `${t.many} deliveries over ${t.destinations} ${what} destinations`,
      {
        org: ORG_MANY,
        orgs: t.destinations,
        prefix: `img_many${tag}_`,
        count: t.many,
        webhookUrl: s.receiver.url('/many'),
      },
      t.many,
      fannedOut,
    )
  // First to destinations never seen (each send window starts at one request and grows with
  // each answer); every round after it goes to the same destinations, their windows open.
  const manyNew = await overMany('new', 'new')
  const rounds: Results['rounds'] = { single: [], ten: [], many: [], naive: [await naive()] }
  for (let round = 0; round < t.rounds; round++) {
    rounds.single.push(
      await drain(`${t.single} deliveries to 1 destination (64 in flight)`, {
        org: ORG_ONE,
        prefix: `img_one${round}_`,
        count: t.single,
        webhookUrl: null,
      }),
    )
    rounds.ten.push(
      await drain(
        `${t.tenEvents} events x 10 endpoints`,
        { org: ORG_TEN, prefix: `img_ten${round}_`, count: t.tenEvents, webhookUrl: null },
        t.tenEvents * 10,
      ),
    )
    rounds.many.push(await overMany(String(round), 'known'))
    rounds.naive.push(await naive())
  }
  // Context: the same drains from where the peer starts, the deliveries fanned out and due.
  const singleDue = await drain(
    `${t.single} deliveries to 1 destination, fanned out before`,
    { org: ORG_ONE, prefix: 'img_one_due_', count: t.single, webhookUrl: null },
    t.single,
    true,
  )
  const manyDue = await overMany('due', 'known', true)
  const capped = await drain(`${t.capped} deliveries to 1 destination (default cap)`, {
    org: ORG,
    prefix: 'img_capped_',
    count: t.capped,
    webhookUrl: s.receiver.url('/capped'),
  })
  return { rounds, capped, manyNew, singleDue, manyDue }
}

/**
 * What /metrics costs: fresh workers with metrics off and on, alternated, each measuring latency
 * and then draining a backlog to the 64-in-flight destination while a scraper reads /metrics
 * every second (Prometheus's usual interval is 15 s).
 */
async function metricsCost(s: Setup, plan: Plan): Promise<Results['metrics']> {
  const rounds: Results['metrics'] = []
  for (let round = 0; round < plan.metrics.rounds; round++) {
    for (const on of [false, true]) {
      const tag = `m${round}${on ? 'on' : 'off'}`
      // The backlog is recorded before the worker starts, so the drain counts only its own work.
      await recordEvents(s.db.pool, {
        org: ORG_ONE,
        prefix: `img_${tag}_`,
        count: plan.metrics.drain,
        webhookUrl: null,
      })
      const metricsPort = on ? await freePort() : undefined
      let worker: Child | undefined
      let scraper: ReturnType<typeof scrapeEverySecond> | undefined
      try {
        const start = async () => {
          worker = await startWorkerProcess({ ...s.env, metricsPort }, s.db.pool)
          scraper = metricsPort === undefined ? undefined : scrapeEverySecond(metricsPort)
          return worker
        }
        const drain = await measureDrain(s.ctx, plan.metrics.drain, start, DRAIN_TIMEOUT_MS, false)
        const latency = await measureLatency(s.db.pool, s.receiver, {
          rate: plan.latency.rate,
          seconds: plan.metrics.latencySeconds,
          tag,
        })
        const scrapes = (await scraper?.stop()) ?? 0
        rounds.push({ on, latency, drain, scrapes })
        log(
          `metrics ${on ? 'on' : 'off'}: ${Math.round(drain.perSecond)} deliveries/s, p99 ${latency.p99.toFixed(1)} ms${on ? `, ${scrapes} scrapes` : ''}`,
        )
      } finally {
        await scraper?.stop()
        await worker?.stop()
      }
    }
  }
  return rounds
}

/**
 * Recording's own cost: the same transactions with no worker competing for the two cores. A
 * worker_pools row advertises polling, as a hot dispatcher's does, so recorders skip NOTIFY as
 * they would in production (with no pool at all, each would NOTIFY).
 */
async function recordingAlone(s: Setup, plan: Plan): Promise<RecordingRates[]> {
  const setup = { url: s.db.url, pool: s.db.pool, webhookUrl: s.receiver.url('/alone') }
  const modes = ['plain', 'record', 'row'] as const
  await settleDatabase(s.db.pool, log)
  await s.db.pool.query(`insert into webhooks.worker_pools (id, hostname, pid, polling_until)
    values ('bench_hot', 'bench', 0, now() + interval '1 hour')`)
  try {
    return await measureRecording({ ...setup, modes, worker: false }, plan.recording, log)
  } finally {
    await s.db.pool.query("delete from webhooks.worker_pools where id = 'bench_hot'")
  }
}

/**
 * When the RSS drain stops recording: late enough for the whole million on this machine, early
 * enough that what is still queued then (at most four chunks) drains within the time budget.
 * --drain-events N records all N whatever the time.
 */
function recordUntil(plan: Plan): number {
  return plan.backlog.drainFixed ? Number.POSITIVE_INFINITY : began + plan.budgetMs - plan.drainMarginMs
}

/** With the worker running, as in production: recording, latency, then the backlog phases. */
async function production(s: Setup, plan: Plan, worker: Child) {
  // What the render service records with no worker running is drained first.
  await waitDrained(s.db.pool, DRAIN_TIMEOUT_MS)
  await settleDatabase(s.db.pool, log)
  const setup = { url: s.db.url, pool: s.db.pool, webhookUrl: s.receiver.url('/rec') }
  // Context and the add_job baseline, not a target: one round leaves the time to the 1M drain.
  const recording = await measureRecording(
    { ...setup, modes: RECORDING_MODES, worker: true },
    { ...plan.recording, rounds: 1 },
    log,
  )
  const latency = await measureLatency(s.db.pool, s.receiver, { ...plan.latency, tag: 'a' })
  log(`latency: p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms`)
  const besideHanging = await latencyBesideHanging(s, plan)
  await queueFutureRetries(s.db.pool, plan.backlog.retries, s.receiver.url('/down'))
  // A day's backlog would have been vacuumed and checkpointed long ago.
  await settleDatabase(s.db.pool, log)
  log(`${plan.backlog.retries} future retries queued`)
  const backlogLatency = await measureLatency(s.db.pool, s.receiver, {
    rate: plan.latency.rate,
    seconds: plan.backlog.latencySeconds,
    tag: 'b',
  })
  log(
    `latency with the backlog: p50 ${backlogLatency.p50.toFixed(1)} ms, p99 ${backlogLatency.p99.toFixed(1)} ms`,
  )
  log(`draining up to ${plan.backlog.drainEvents} events while recording them`)
  const drained = await drainWithRss(s.ctx, worker, {
    events: plan.backlog.drainEvents,
    recordUntil: recordUntil(plan),
    chunk: plan.backlog.chunk,
    maxBacklog: plan.backlog.chunk * 4,
    webhookUrl: s.receiver.url('/drain'),
    timeoutMs: plan.budgetMs,
  })
  const drain = { ...drained, planned: plan.backlog.drainEvents }
  return { recording, latency, besideHanging, backlogRetries: plan.backlog.retries, backlogLatency, drain }
}

/**
 * Ten orgs' receivers accept requests and never answer, each with a backlog; the latency of a
 * healthy org's events is measured beside them. Their deliveries are then cleared away (dropped,
 * their requests let go) so that the phases after this one do not share the worker with them.
 */
async function latencyBesideHanging(s: Setup, plan: Plan): Promise<Results['besideHanging']> {
  const { perDestination, seconds } = plan.hanging
  await recordEvents(s.db.pool, {
    org: ORG_HANG,
    orgs: HANGING_DESTINATIONS,
    prefix: 'img_hang_',
    count: perDestination * HANGING_DESTINATIONS,
    webhookUrl: s.receiver.url('/hang/'),
  })
  // Measured once every hanging destination holds requests, as after a burst.
  await until('every hanging destination to hold a request', () => allHanging(s.db.pool), 30_000, 20)
  const latency = await measureLatency(s.db.pool, s.receiver, { rate: plan.latency.rate, seconds, tag: 'h' })
  log(`latency beside ${HANGING_DESTINATIONS} hanging destinations: p99 ${latency.p99.toFixed(1)} ms`)
  const dropped = await clearHanging(s.db.pool)
  const released = await s.receiver.release()
  log(`cleared ${dropped} hanging deliveries, let go of ${released} requests`)
  return { ...latency, hanging: perDestination * HANGING_DESTINATIONS }
}

async function machine(s: Setup): Promise<string> {
  const { rows } = await s.db.pool.query<{ v: string }>("select split_part(version(), ' on ', 1) as v")
  const cpu = cpus()
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GB RAM, ${rows[0]?.v}, Node ${process.version}`
}

async function checkOutcomes(s: Setup): Promise<string> {
  const { rows } = await s.db.pool.query<{ total: number; failed: number }>(
    `select count(*)::int as total, count(*) filter (where outcome <> 'delivered')::int as failed
     from webhooks.attempts where org_id not like $1`,
    [`${ORG_HANG}_%`],
  )
  const { total = 0, failed = 0 } = rows[0] ?? {}
  return `${total.toLocaleString('en-US')} attempts written, ${failed} not delivered (the hanging destinations' aside)`
}

async function run(plan: Plan, write: boolean): Promise<void> {
  const db = await createBenchDatabase(ADMIN_URL)
  let receiver: ReceiverHandle | undefined
  let worker: Child | undefined
  try {
    receiver = await startReceiver()
    const secretsKey = randomBytes(32).toString('base64')
    await seedDestinations(db.pool, createSecretBox(secretsKey), receiver.url, plan.throughput.destinations)
    const databaseUrl = PG_OPTIONS ? `${db.url}?options=${encodeURIComponent(PG_OPTIONS)}` : db.url
    const env = { databaseUrl, secretsKey, concurrency: plan.workerConcurrency }
    const s: Setup = { db, receiver, env, ctx: { pool: db.pool, admin: db.admin, dbName: db.name, receiver } }
    log(`database ${db.name} ready; ${plan.mode} run`)
    const base = await baselines(s, plan)
    const drains = await throughput(s, plan)
    const metrics = await metricsCost(s, plan)
    const alone = await recordingAlone(s, plan)
    // Everything the production phase records goes to one receiver, one render-URL origin: a
    // destination the default cap of 10 would hold to a tenth of the worker's slots.
    worker = await startWorkerProcess({ ...env, destinationConcurrency: plan.workerConcurrency }, db.pool)
    const prod = await production(s, plan, worker)
    const results = {
      ...base,
      ...drains,
      ...prod,
      metrics,
      recordingAlone: alone,
      destinations: plan.throughput.destinations,
    }
    const table = renderTable(buildRows(results, plan.workerConcurrency))
    const minutes = ((performance.now() - began) / 60_000).toFixed(1)
    const header = `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${plan.mode} mode, ${minutes} min, on ${await machine(s)}; ${await checkOutcomes(s)}.`
    console.log(`\n${header}\n\n${table}\n`)
    if (write) {
      await writeDocs(DOCS, `${header}\n\n${table}\n`)
      log('docs/benchmarks.md updated')
    }
  } finally {
    await worker?.stop()
    await receiver?.child.stop()
    await db.drop()
  }
}

const { plan, write } = planFromArgs(process.argv.slice(2))
// Bounded whatever happens: children are killed; a later run drops the database of a dead one.
const watchdog = setTimeout(() => {
  log(`still running after ${(plan.budgetMs * 1.5) / 1000}s: giving up`)
  killAllChildren()
  process.exit(1)
}, plan.budgetMs * 1.5)
process.once('SIGINT', () => {
  killAllChildren()
  process.exit(130)
})
try {
  await run(plan, write)
} catch (error) {
  killAllChildren()
  console.error(error)
  process.exitCode = 1
} finally {
  clearTimeout(watchdog)
}
