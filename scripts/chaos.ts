// npm run chaos [-- --quick | --tiny] [--keep-logs]
//
// Proves "nothing lost" by doing the damage and counting: a private PostgreSQL, a receiver that
// misbehaves on purpose, two worker processes, a steady stream of recorded events, a worker
// SIGKILLed every few seconds and one PostgreSQL restart; then the damage stops, the system
// drains, and every committed event is checked for a 2xx at every destination. Exits 1 on any
// loss. See docs/reliability.md.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { errorText, WebhookError } from '../src/errors.ts'
import { createLogger } from '../src/logger.ts'
import type { Db } from '../src/store/database.ts'
import { createDb, createPool } from '../src/store/database.ts'
import { migrate } from '../src/store/migrate.ts'
import { readFacts } from './chaos/facts.ts'
import type { Profile } from './chaos/profiles.ts'
import { MIN_AGE_BEFORE_KILL_MS, PROFILES, workerEnv } from './chaos/profiles.ts'
import type { ChaosReceiver } from './chaos/receiver.ts'
import { startReceiver } from './chaos/receiver.ts'
import { startRecorder } from './chaos/recorder.ts'
import type { RunSummary } from './chaos/report.ts'
import { problems, reportDetails, reportTable } from './chaos/report.ts'
import { drain, ORG_ID, setUpOrg, waitForWorkers } from './chaos/setup.ts'
import { tally } from './chaos/tally.ts'
import { WorkerFleet } from './chaos/workers.ts'
import type { ScratchPostgres } from './shared/scratch-postgres.ts'
import { startScratchPostgres } from './shared/scratch-postgres.ts'

/** Kills and the restart, at their times since the damage began; resolves when the damage is over. */
async function doDamage(profile: Profile, fleet: WorkerFleet, pg: ScratchPostgres): Promise<number[]> {
  const began = Date.now()
  const steps: Array<{ at: number; run: () => Promise<void> }> = []
  const downtimes: number[] = []
  for (let i = 0; i < profile.kills; i++) {
    steps.push({
      at: profile.firstKillMs + i * profile.killEveryMs,
      run: async () => {
        const pid = fleet.killOne(MIN_AGE_BEFORE_KILL_MS)
        console.log(`  ${seconds(Date.now() - began)}  SIGKILL worker ${pid ?? '(none old enough)'}`)
      },
    })
  }
  steps.push({
    at: profile.restartAtMs,
    run: async () => {
      console.log(`  ${seconds(Date.now() - began)}  restarting PostgreSQL`)
      downtimes.push(await pg.restart())
      console.log(`  ${seconds(Date.now() - began)}  PostgreSQL back after ${downtimes.at(-1)} ms`)
    },
  })
  steps.push({ at: profile.damageMs, run: async () => undefined })
  for (const step of steps.sort((a, b) => a.at - b.at)) {
    await delay(Math.max(0, began + step.at - Date.now()))
    await step.run()
  }
  return downtimes
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`

/** Everything that must be undone however the run ends: run in reverse, synchronously. */
const undo: Array<() => void> = []
function undoAll(): void {
  for (let step = undo.pop(); step; step = undo.pop()) {
    try {
      step()
    } catch {
      // Best effort: the rest must still run.
    }
  }
}

type Stage = {
  pg: ScratchPostgres
  db: Db
  receiver: ChaosReceiver
  fleet: WorkerFleet
  paths: Map<string, string>
}

/** The private database, the receiver, the org and its endpoints, and two running workers. */
async function setStage(logDir: string): Promise<Stage> {
  const pg = await startScratchPostgres({ logDir })
  undo.push(() => pg.destroy())
  const pool = createPool(pg.url, 10)
  const db = createDb(pool)
  await migrate(pool, createLogger('warn'))
  const receiver = await startReceiver()
  undo.push(() => receiver.stop())
  const secretsKey = randomBytes(32).toString('base64')
  const paths = await setUpOrg(db, receiver, secretsKey)
  const env = workerEnv(pg.url, secretsKey)
  const fleet = new WorkerFleet({ env, size: 2, logFile: join(logDir, 'workers.log') })
  undo.push(() => fleet.killAll())
  fleet.fill()
  await waitForWorkers(db, 2, 60_000)
  return { pg, db, receiver, fleet, paths }
}

async function chaos(mode: keyof typeof PROFILES, logDir: string): Promise<RunSummary> {
  const profile = PROFILES[mode]
  const started = Date.now()
  const { pg, db, receiver, fleet, paths } = await setStage(logDir)
  console.log(`chaos (${mode}): PostgreSQL at ${pg.url}, 2 workers, ${profile.ratePerSecond} events/s`)
  const recorder = startRecorder({
    db,
    ratePerSecond: profile.ratePerSecond,
    orgId: ORG_ID,
    webhookUrl: receiver.url('/render'),
  })
  const downtimes = await doDamage(profile, fleet, pg)
  const recorded = await recorder.stop()
  console.log(`  damage over: ${recorded.confirmed.length} events recorded; draining`)
  const drained = await drain(db, profile.drainMaxMs)
  const forcedStops = await fleet.stop(20_000)
  const [stats, facts] = await Promise.all([receiver.stats(), readFacts(db)])
  await db.destroy()
  const deaths = [...fleet.kills.map((k) => k.at), ...fleet.unplannedExits.map((e) => e.at)]
  return {
    mode,
    tally: tally({ facts, answered2xx: stats.answered2xx, confirmed: recorded.confirmed, paths, deaths }),
    receiver: stats,
    recorder: recorded,
    attemptsByOutcome: facts.attemptsByOutcome,
    kills: fleet.kills.length,
    unplannedExits: fleet.unplannedExits,
    restartDowntimesMs: downtimes,
    drained: drained.done,
    drainMs: drained.ms,
    forcedStops,
    totalMs: Date.now() - started,
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, tiny: { type: 'boolean' }, 'keep-logs': { type: 'boolean' } },
  })
  const mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full'
  const logDir = mkdtempSync(join(tmpdir(), 'imtegrate-chaos-logs-'))
  process.on('exit', undoAll)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping everything; worker logs kept in ${logDir}`)
      process.exit(130)
    })
  }
  let summary: RunSummary
  try {
    summary = await chaos(mode, logDir)
  } catch (error) {
    // A PostgreSQL that cannot be run here says why in one line; anything else is a bug to read.
    console.error('chaos run failed:', error instanceof WebhookError ? errorText(error) : error)
    console.error(`worker logs kept in ${logDir}`)
    return 1
  } finally {
    undoAll()
  }
  console.log(`\n${reportTable(summary)}\n`)
  for (const line of reportDetails(summary)) {
    console.log(line)
  }
  const failures = problems(summary)
  if (failures.length > 0) {
    console.error(`FAILED: ${failures.join('; ')}\nworker logs kept in ${logDir}`)
    return 1
  }
  if (values['keep-logs']) {
    console.log(`worker logs kept in ${logDir}`)
  } else {
    rmSync(logDir, { recursive: true, force: true })
  }
  console.log(`OK: lost = 0 (${new Date().toISOString()})`)
  return 0
}

process.exitCode = await main()
// A run that failed half-way may leave a pool to a server that is gone: do not wait on it.
setTimeout(() => process.exit(), 2_000).unref()
