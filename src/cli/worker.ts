import { loadConfig } from '../config.ts'
import { startEmbeddedPostgres } from '../dev/embedded-postgres.ts'
import { coerceError } from '../errors.ts'
import { createLogger, prettyDestination, wantsPrettyLog } from '../logger.ts'
import type { WorkerHandle } from '../worker/runner.ts'
import { startWorker } from '../worker/runner.ts'
import { probeDatabase } from './context.ts'
import type { Command } from './io.ts'
import { CommandError, parse } from './io.ts'

export const workerCommand: Command = {
  usage: `imtegrate-webhooks worker

Runs the dispatcher and graphile-worker until SIGTERM or SIGINT, then stops gracefully (exit 0).
Refuses (exit 1) a database that \`imtegrate-webhooks migrate\` has not brought up to date; with
no DATABASE_URL it starts an embedded PostgreSQL kept under .data/, which it migrates itself.`,
  async run(args, io) {
    parse(args, {})
    const config = loadConfig(io.env)
    const logger = createLogger(
      config.logLevel,
      wantsPrettyLog(process.stdout, config.nodeEnv) ? await prettyDestination() : undefined,
    )
    // Listening from the start: a signal during start-up (while PostgreSQL or the worker starts)
    // stops the worker as soon as it runs, instead of killing the process mid-way.
    let worker: WorkerHandle | undefined
    let stopping = false
    let signals = 0
    const onSignal = (signal: NodeJS.Signals) => {
      signals++
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now')
        process.exit(1)
      }
      logger.info({ signal }, 'stopping gracefully')
      stopping = true
      void worker?.stop()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    // A start that fails leaves nothing to stop: the handlers go, so nothing holds the process up.
    const unlisten = () => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
    let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined
    if (config.databaseUrl === undefined) {
      logger.info(
        { dataDir: '.data/postgres' },
        'no DATABASE_URL: starting an embedded PostgreSQL under .data/',
      )
      embedded = await startEmbeddedPostgres().catch((error: unknown) => {
        unlisten()
        // One line: initdb's and pg_ctl's own messages span several.
        throw new CommandError(coerceError(error).message.replace(/\s*\n\s*/g, ' '), { cause: error })
      })
      if (!embedded.owned) {
        logger.info(
          'an embedded PostgreSQL was already running under .data/ (an earlier run, or another worker): using it; it keeps running after this worker stops',
        )
      }
    }
    if (config.secretsKey === undefined) {
      logger.warn(
        'WEBHOOK_SECRETS_KEY is not set: endpoint secrets are stored unencrypted (development only)',
      )
    }
    if (config.leaseMarginMs <= config.queryTimeoutMs) {
      logger.warn(
        { leaseMarginMs: config.leaseMarginMs, queryTimeoutMs: config.queryTimeoutMs },
        'WEBHOOK_LEASE_MARGIN is not longer than DATABASE_QUERY_TIMEOUT: an outcome write that slow outlasts its lease, and another worker sends the delivery again',
      )
    }
    const databaseUrl = config.databaseUrl ?? (embedded?.url as string)
    try {
      // A database that cannot be used is one line, as for every command; the connection wait
      // is bounded like the worker's statements. Only the embedded database migrates itself.
      await probeDatabase(databaseUrl, config.queryTimeoutMs)
      worker = await startWorker({ ...config, databaseUrl }, logger, undefined, {
        migrate: embedded !== undefined,
      })
    } catch (error) {
      unlisten()
      await embedded?.stop()
      throw error
    }
    if (stopping) {
      void worker.stop()
    }
    try {
      await worker.done
    } catch (error) {
      const err = coerceError(error)
      logger.fatal({ err }, 'worker failed')
      await embedded?.stop()
      // Exit 1, so a supervisor restarts the worker rather than leave it half alive.
      throw new CommandError(`the worker stopped: ${err.message}`, { cause: err })
    }
    await embedded?.stop()
  },
}
