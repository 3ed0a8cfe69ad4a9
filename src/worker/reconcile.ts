import type { Task } from 'graphile-worker'
import type { Logger } from '../logger.ts'
import type { Db } from '../store/database.ts'
import { wakeStranded } from '../store/destinations.ts'
import { releaseDeadPools } from '../store/worker-pools.ts'

/** A pool that has not beaten for this long is dead (it beats every 500 ms). */
export const DEAD_AFTER_MS = 60_000

/**
 * One reconciliation: frees jobs held by dead pools (graphile-worker would keep them locked for
 * 4 hours), wakes any destination left waiting for nothing while it has a delivery due (a safety
 * net: none is the normal answer, and any is logged), then wakes this process's dispatcher, which
 * reclaims expired delivery leases and picks up anything due that no wake-up reached. Safe to run
 * twice, and on several workers. Returns the ids of the pools it released.
 */
export async function reconcile(db: Db, logger: Logger, kick: () => void): Promise<string[]> {
  const released = await releaseDeadPools(db, DEAD_AFTER_MS)
  if (released.length > 0) {
    logger.warn({ pools: released }, 'released the jobs of worker pools that stopped heart-beating')
  }
  const stranded = await wakeStranded(db)
  if (stranded.length > 0) {
    logger.warn(
      { destinations: stranded.slice(0, 50), count: stranded.length },
      'woke destinations that had deliveries due but waited for nothing',
    )
  }
  kick()
  return released
}

/** The reconciler as the graphile-worker task its cron runs every minute on one of the workers. */
export function reconcileTask(db: Db, logger: Logger, kick: () => void): Task {
  return async () => {
    await reconcile(db, logger, kick)
  }
}
