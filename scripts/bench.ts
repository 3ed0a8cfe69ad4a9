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
import type { BenchDb } from './bench/database.ts'
import {
  createBenchDatabase,
  ORG,
  ORG_TEN,
  recordEvents,
  seedDestinations,
  settleDatabase,
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

/** Backlogs recorded while no dispatcher runs, then drained by a freshly started one. */
async function throughput(s: Setup, plan: Plan): Promise<Pick<Results, 'single' | 'ten' | 'naive'>> {
  const { single: n1, tenEvents, naive: nNaive } = plan.throughput
  const worker = () => startWorkerProcess(s.env, s.db.pool)
  await recordEvents(s.db.pool, {
    org: ORG,
    prefix: 'img_one_',
    count: n1,
    webhookUrl: s.receiver.url('/one'),
  })
  const single = await measureDrain(s.ctx, n1, worker, DRAIN_TIMEOUT_MS)
  log(`${n1} events x 1 endpoint: ${Math.round(single.perSecond)} deliveries/s`)
  await recordEvents(s.db.pool, { org: ORG_TEN, prefix: 'img_ten_', count: tenEvents, webhookUrl: null })
  const ten = await measureDrain(s.ctx, tenEvents * 10, worker, DRAIN_TIMEOUT_MS)
  log(`${tenEvents} events x 10 endpoints: ${Math.round(ten.perSecond)} deliveries/s`)
  // The naive dispatcher only delivers, on its own lean schema: it gets its backlog made for it.
  await seedNaiveBacklog(
    s.db.pool,
    nNaive,
    s.receiver.url('/naive'),
    createSecretBox(s.env.secretsKey).seal(generateSecret()),
  )
  const naive = await measureDrain(s.ctx, nNaive, () => startNaiveProcess(s.env), DRAIN_TIMEOUT_MS)
  log(`naive dispatcher: ${Math.round(naive.perSecond)} deliveries/s`)
  return { single, ten, naive }
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
  return { recording, latency, backlogRetries: plan.backlog.retries, backlogLatency, drain }
}

async function machine(s: Setup): Promise<string> {
  const { rows } = await s.db.pool.query<{ v: string }>("select split_part(version(), ' on ', 1) as v")
  const cpu = cpus()
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GB RAM, ${rows[0]?.v}, Node ${process.version}`
}

async function checkOutcomes(s: Setup): Promise<string> {
  const { rows } = await s.db.pool.query<{ total: number; failed: number }>(
    "select count(*)::int as total, count(*) filter (where outcome <> 'delivered')::int as failed from webhooks.attempts",
  )
  const { total = 0, failed = 0 } = rows[0] ?? {}
  return `${total.toLocaleString('en-US')} attempts written, ${failed} not delivered`
}

async function run(plan: Plan, write: boolean): Promise<void> {
  const db = await createBenchDatabase(ADMIN_URL)
  let receiver: ReceiverHandle | undefined
  let worker: Child | undefined
  try {
    receiver = await startReceiver()
    const secretsKey = randomBytes(32).toString('base64')
    await seedDestinations(db.pool, createSecretBox(secretsKey), receiver.url)
    const databaseUrl = PG_OPTIONS ? `${db.url}?options=${encodeURIComponent(PG_OPTIONS)}` : db.url
    const env = { databaseUrl, secretsKey, concurrency: plan.workerConcurrency }
    const s: Setup = { db, receiver, env, ctx: { pool: db.pool, admin: db.admin, dbName: db.name, receiver } }
    log(`database ${db.name} ready; ${plan.mode} run`)
    const base = await baselines(s, plan)
    const drains = await throughput(s, plan)
    const alone = await recordingAlone(s, plan)
    worker = await startWorkerProcess(env, db.pool)
    const prod = await production(s, plan, worker)
    const table = renderTable(buildRows({ ...base, ...drains, ...prod, recordingAlone: alone }))
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
