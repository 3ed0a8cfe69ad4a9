import type { Task } from 'graphile-worker'
import type { Logger } from '../logger.ts'
import type { Db } from '../store/database.ts'
import { releaseDeadPools } from '../store/worker-pools.ts'

/** A pool that has not beaten for this long is dead (it beats every 500 ms). */
const DEAD_AFTER_MS = 60_000

/**
 * The reconciler, run by graphile-worker's cron every minute on one of the workers: frees jobs
 * held by dead pools, then wakes this process's dispatcher, which reclaims expired delivery
 * leases and picks up anything due that no wake-up reached.
 */
export function reconcileTask(db: Db, logger: Logger, kick: () => void): Task {
  return async () => {
    const released = await releaseDeadPools(db, DEAD_AFTER_MS)
    if (released.length > 0) {
      logger.warn({ pools: released }, 'released the jobs of worker pools that stopped heart-beating')
    }
    kick()
  }
}
