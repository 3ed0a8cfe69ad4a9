import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { readBacklog } from '../store/backlog.ts'
import type { Db } from '../store/database.ts'
import { readMigrations } from '../store/migrate.ts'
import { createBacklogReader } from './backlog-reader.ts'
import { liveness, readiness } from './health.ts'
import { createProbes } from './probes.ts'
import type { DispatcherView } from './registry.ts'
import { createMetrics } from './registry.ts'
import { startMonitorServer } from './server.ts'
import type { WorkerMetrics } from './worker-metrics.ts'

/** The backlog is read from the database at most this often, however often it is scraped. */
export const BACKLOG_MAX_AGE_MS = 5_000
/** A scrape waits this long for a fresh backlog, then gets the previous reading. */
const BACKLOG_WAIT_MS = 2_000
/** /healthz and /readyz answer within a second: their database probes get this long. */
const PROBE_WITHIN_MS = 900
/** Beyond its longest legitimate pause (see loopStaleAfterMs), a margin before the loop counts as stuck. */
const LOOP_MARGIN_MS = 5_000

export type MonitorOptions = {
  host: string
  port: number
  db: Db
  logger: Logger
  version: string
  pollIntervalMs: number
  queryTimeoutMs: number
}

/** A worker's monitoring, from before it migrates until it stopped. */
export type Monitor = {
  metrics: WorkerMetrics
  /** Where /metrics, /healthz and /readyz are served. */
  url: string
  /** The worker runs: graphile-worker's pool id, and the dispatcher's getters. */
  attach(poolId: string, dispatcher: DispatcherView): void
  /** The worker stops: no longer ready. */
  stopping(): void
  close(): Promise<void>
}

/**
 * The longest the dispatcher loop goes without coming round while it works: a wait of up to
 * the poll interval, then a pass of two statements, each of which may wait the query deadline
 * for a connection and again for its answer.
 */
export function loopStaleAfterMs(pollIntervalMs: number, queryTimeoutMs: number): number {
  return pollIntervalMs + 4 * queryTimeoutMs + LOOP_MARGIN_MS
}

/**
 * Starts serving metrics, /healthz and /readyz (WEBHOOK_METRICS_PORT). Called before the worker
 * migrates, so a supervisor sees it start up: not ready until the migrations are current and the
 * worker pool is registered, not healthy until the dispatcher runs.
 */
export async function startMonitor(options: MonitorOptions): Promise<Monitor> {
  const migrations = await readMigrations()
  const requiredMigration = Math.max(0, ...migrations.map((m) => m.id))
  let attached: { poolId: string; dispatcher: DispatcherView } | undefined
  let stopping = false
  const backlog = createBacklogReader({
    read: () => readBacklog(options.db),
    maxAgeMs: BACKLOG_MAX_AGE_MS,
    waitMs: BACKLOG_WAIT_MS,
    onError: (error) => options.logger.warn({ err: coerceError(error) }, 'could not read the backlog'),
  })
  const probes = createProbes(options.db, PROBE_WITHIN_MS, () => attached?.poolId)
  const metrics = createMetrics({ version: options.version, backlog, dispatcher: () => attached?.dispatcher })
  const server = await startMonitorServer({
    host: options.host,
    port: options.port,
    registry: metrics.registry,
    logger: options.logger,
    healthz: async () =>
      liveness({
        loopAliveAt: attached?.dispatcher.loopAliveAt,
        now: Date.now(),
        loopStaleAfterMs: loopStaleAfterMs(options.pollIntervalMs, options.queryTimeoutMs),
        database: await probes.ping(),
      }),
    readyz: async () => {
      const { probe, stored } = await probes.readiness()
      return readiness({
        database: probe,
        latestMigration: stored?.latestMigration ?? null,
        requiredMigration,
        poolRegistered: attached !== undefined && stored?.poolRegistered === true,
        stopping,
      })
    },
  })
  return {
    metrics: metrics.worker,
    url: server.url,
    attach(poolId, dispatcher) {
      attached = { poolId, dispatcher }
    },
    stopping() {
      stopping = true
    },
    close: () => server.close(),
  }
}
