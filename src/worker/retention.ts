import type { Task } from 'graphile-worker'
import type { Logger } from '../logger.ts'
import type { Db } from '../store/database.ts'
import { cutoffAgo, prune } from '../store/prune.ts'

/** When the worker's crontab prunes (hourly, on one worker of the cluster) with WEBHOOK_RETENTION set. */
export const PRUNE_CRONTAB = '17 * * * * prune ?max=1'

/**
 * Prunes the history that ended more than `retentionMs` ago (see `imtegrate-webhooks prune`).
 * A shutdown stops it between batches; the next run carries on.
 */
export function pruneTask(db: Db, logger: Logger, retentionMs: number): Task {
  return async (_payload, helpers) => {
    const before = await cutoffAgo(db, retentionMs)
    const counts = await prune(db, before, {
      signal: helpers.abortSignal,
      onSmallerBatch: (size, error) =>
        logger.warn(
          { err: error, batchSize: size },
          'a prune batch outlasted its deadline; trying smaller batches',
        ),
    })
    if (counts.events > 0) {
      logger.info({ ...counts, before: before.toISOString() }, 'pruned history past the retention window')
    }
  }
}
