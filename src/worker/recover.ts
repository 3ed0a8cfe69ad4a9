import type { Task } from 'graphile-worker'
import type { Logger } from '../logger.ts'
import type { Db } from '../store/database.ts'
import { RECOVER_TASK, recoverBatch } from '../store/recoveries.ts'

export { RECOVER_TASK }

/** Deliveries replayed per transaction: small enough that a batch holds its row locks briefly. */
const BATCH_SIZE = 200

/** A recovery stopped by a worker shutting down: graphile-worker runs it again later, from its cursor. */
class RecoveryInterrupted extends Error {
  override readonly name = 'RecoveryInterrupted'
}

/**
 * Runs recovery `id` to its end, batch after batch (each batch commits with the cursor). Safe to
 * run twice and to resume after a crash: a batch that did not commit left no trace.
 */
export async function runRecovery(
  db: Db,
  logger: Logger,
  id: string,
  options: { signal?: AbortSignal; batchSize?: number } = {},
): Promise<void> {
  for (;;) {
    if (options.signal?.aborted) {
      throw new RecoveryInterrupted(
        `recovery ${id} was interrupted by a shutdown; it resumes from its cursor`,
      )
    }
    const run = await recoverBatch(db, id, options.batchSize ?? BATCH_SIZE)
    if (run === undefined) {
      logger.warn({ recoveryId: id }, 'recovery job for an unknown recovery; nothing to do')
      return
    }
    if (run.status === 'completed') {
      logger.info(
        { recoveryId: id, endpointId: run.endpoint_id, replayed: run.replayed, skipped: run.skipped },
        'recovery completed',
      )
      return
    }
  }
}

/** The graphile-worker task; its payload is `{ recovery_id }`. */
export function recoverTask(db: Db, logger: Logger, batchSize?: number): Task {
  return async (payload, helpers) => {
    const id = (payload as { recovery_id?: unknown } | null)?.recovery_id
    if (typeof id !== 'string') {
      logger.error({ payload }, 'recovery job without a recovery_id; dropped')
      return
    }
    await runRecovery(db, logger, id, {
      signal: helpers.abortSignal,
      ...(batchSize === undefined ? {} : { batchSize }),
    })
  }
}
