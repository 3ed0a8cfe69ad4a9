import { EventEmitter } from 'node:events'
import type { WorkerEvents } from 'graphile-worker'
import { run } from 'graphile-worker'
import type pg from 'pg'
import type { Config } from '../config.ts'
import { createTargetGuard } from '../delivery/address-guard.ts'
import { createHttpClient } from '../delivery/http.ts'
import { coerceError, WebhookError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { workerLogger } from '../logger.ts'
import type { Monitor } from '../metrics/monitor.ts'
import { startMonitor } from '../metrics/monitor.ts'
import { NO_METRICS } from '../metrics/worker-metrics.ts'
import { createSecretBox } from '../secret-box.ts'
import type { Db } from '../store/database.ts'
import { createDb, createPool } from '../store/database.ts'
import { migrate, pendingMigrations } from '../store/migrate.ts'
import { registerPool, unregisterPool } from '../store/worker-pools.ts'
import { version } from '../version.ts'
import { Dispatcher } from './dispatcher.ts'
import { reconcileTask } from './reconcile.ts'
import { RECOVER_TASK, recoverTask } from './recover.ts'
import { PRUNE_CRONTAB, pruneTask } from './retention.ts'

/** The prune's statements may take this many times DATABASE_QUERY_TIMEOUT. */
const PRUNE_DEADLINE_FACTOR = 6

export type WorkerHandle = {
  dispatcher: Dispatcher
  poolId: string
  /** Where /metrics, /healthz and /readyz are served (WEBHOOK_METRICS_PORT); undefined when off. */
  monitorUrl: string | undefined
  /** Graceful stop: no new work, in-flight requests finished or abandoned within the bound. */
  stop(): Promise<void>
  /** Settles when the worker stopped: resolves after stop(), rejects when something fatal stopped it. */
  done: Promise<void>
}

export type StartOptions = {
  /**
   * Migrate the database first (the embedded development database). Otherwise a database that
   * `migrate` has not brought up to date is refused (SCHEMA_NOT_MIGRATED), and nothing is
   * created in it: installing schemas is the operator's step, not a side effect of a start.
   */
  migrate?: boolean
}

/**
 * Starts a worker: checks (or, with `migrate`, migrates) the database, then runs graphile-worker
 * (the reconciler cron, and the hourly prune with WEBHOOK_RETENTION set) and the dispatcher
 * on one pg pool. Anything fatal (graphile-worker's pool dying) rejects `done`; the caller
 * should exit non-zero so a supervisor restarts it, rather than leave a worker half alive.
 */
export async function startWorker(
  config: Config & { databaseUrl: string },
  logger: Logger,
  givenPool?: pg.Pool,
  options: StartOptions = {},
): Promise<WorkerHandle> {
  const pool = givenPool ?? createPool(config.databaseUrl, config.poolSize, logger)
  // A start that fails part-way leaves nothing running (a pool, graphile-worker, a LISTEN, the
  // monitoring server) that would keep the process alive after its error was reported.
  let monitor: Monitor | undefined
  const releaseStart = async () => {
    await monitor?.close()
    await (givenPool === undefined ? pool.end().catch(() => undefined) : undefined)
  }
  const db = createDb(pool, config.queryTimeoutMs)
  try {
    // Before the schema check: a supervisor sees the worker start up (not ready) rather than nothing.
    monitor = await startMonitorIfSet(config, db, logger)
    if (options.migrate === true) {
      await migrate(pool, logger)
    } else {
      await refuseUnmigrated(pool)
    }
  } catch (error) {
    await releaseStart()
    throw error
  }

  let poolId: string | undefined
  const events: WorkerEvents = new EventEmitter()
  events.on('pool:create', ({ workerPool }) => {
    poolId = workerPool.id
  })
  let dispatcher: Dispatcher | undefined
  let runner: Awaited<ReturnType<typeof run>>
  try {
    runner = await run({
      pgPool: pool,
      concurrency: 2,
      noHandleSignals: true,
      logger: workerLogger(logger),
      events,
      taskList: {
        reconcile: reconcileTask(db, logger, () => dispatcher?.kick()),
        // Bulk recoveries started through the API; each batch replays and moves its cursor at once.
        [RECOVER_TASK]: recoverTask(db, logger),
        // Deleting a batch of a large history may take longer than a delivery statement, but a
        // prune stalled on a silent connection must not hold its row locks for ever either.
        ...(config.retentionMs === undefined
          ? {}
          : {
              prune: pruneTask(
                createDb(pool, PRUNE_DEADLINE_FACTOR * config.queryTimeoutMs),
                logger,
                config.retentionMs,
              ),
            }),
      },
      crontab: [
        '* * * * * reconcile ?max=3',
        ...(config.retentionMs === undefined ? [] : [PRUNE_CRONTAB]),
      ].join('\n'),
      // Completion must be awaited at shutdown, or the last job stays locked for 4 hours.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    })
  } catch (error) {
    await releaseStart()
    throw error
  }
  const started = runner
  const abandon = async (error: unknown): Promise<never> => {
    await started.stop().catch(() => undefined)
    await releaseStart()
    throw error
  }
  if (poolId === undefined) {
    return abandon(
      new WebhookError('WORKER_FAILED', 'graphile-worker started without announcing its pool id'),
    )
  }
  const id = poolId
  try {
    await registerPool(db, id)
  } catch (error) {
    return abandon(error)
  }

  const http = createHttpClient({
    timeoutMs: config.requestTimeoutMs,
    guard: createTargetGuard(config.allowPrivateTargets),
  })
  dispatcher = new Dispatcher({
    db,
    pool,
    poolId: id,
    logger,
    attempt: {
      http,
      box: createSecretBox(config.secretsKey, config.secretsKeyPrevious),
      schedule: config.retrySchedule,
    },
    concurrency: config.concurrency,
    destinationConcurrency: config.destinationConcurrency,
    requestTimeoutMs: config.requestTimeoutMs,
    leaseMarginMs: config.leaseMarginMs,
    queryTimeoutMs: config.queryTimeoutMs,
    pollIntervalMs: config.pollIntervalMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    metrics: monitor?.metrics ?? NO_METRICS,
  })
  dispatcher.start()
  const active = dispatcher
  monitor?.attach(id, active)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      monitor?.stopping()
      await active.stop()
      // After a fatal error graphile-worker has stopped itself, and refuses to stop again.
      await runner.stop().catch(() => undefined)
      await unregisterPool(db, id).catch(() => undefined)
      await http.close()
      await monitor?.close()
      await pool.end()
      logger.info({ poolId: id }, 'worker stopped')
    })()
    return stopping
  }
  // graphile-worker's promise settling (either way) while we are not stopping means its pool died.
  const done = runner.promise.then(
    async () => {
      if (stopping === undefined) {
        await stop()
        throw new WebhookError('WORKER_FAILED', 'graphile-worker stopped unexpectedly')
      }
      await stopping
    },
    async (error: unknown) => {
      await stop().catch(() => undefined)
      throw coerceError(error)
    },
  )
  logger.info({ poolId: id, concurrency: config.concurrency }, 'worker started')
  return { dispatcher: active, poolId: id, monitorUrl: monitor?.url, stop, done }
}

/** Metrics and health checks on WEBHOOK_METRICS_PORT, or nothing at all when it is unset. */
async function startMonitorIfSet(config: Config, db: Db, logger: Logger): Promise<Monitor | undefined> {
  if (config.metricsPort === undefined) {
    return undefined
  }
  return startMonitor({
    host: config.metricsHost,
    port: config.metricsPort,
    db,
    logger,
    version,
    pollIntervalMs: config.pollIntervalMs,
    queryTimeoutMs: config.queryTimeoutMs,
  })
}

/** Refuses a database that `migrate` has not brought up to date, saying what is missing. */
export async function refuseUnmigrated(pool: pg.Pool): Promise<void> {
  const pending = await pendingMigrations(pool)
  if (pending.length > 0) {
    const listed =
      pending.length > 3
        ? `${pending.slice(0, 2).join(', ')} and ${pending.length - 2} more`
        : pending.join(', ')
    throw new WebhookError(
      'SCHEMA_NOT_MIGRATED',
      `the database is not migrated (pending: ${listed}); run \`imtegrate-webhooks migrate\` first`,
    )
  }
}
