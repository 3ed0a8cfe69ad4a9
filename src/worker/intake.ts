import { coerceError, errorText } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { WorkerMetrics } from '../metrics/worker-metrics.ts'
import type { ClaimedDelivery, ClaimRequest } from '../store/claim.ts'
import { claimDeliveries, readyDestinations, setDestinationAside } from '../store/claim.ts'
import type { Db } from '../store/database.ts'
import { fanOutEvents, setEventAside, unfannedEvents } from '../store/events.ts'
import { isDataFault } from '../store/faults.ts'
import { writeIsolating } from './isolate.ts'

export const FAN_OUT_BATCH = 500
/** A destination whose claim keeps failing on its data waits this long between tries. */
const SET_ASIDE_MS = 60_000

// The dispatcher's two batched intakes, each proof against a row that makes its batch fail:
// the batch is split until that row is found, the rest goes on, and the row is set aside.

/** Fans out a batch of recorded events; an event that makes the batch fail is set aside. */
export async function fanOut(db: Db, logger: Logger, metrics: WorkerMetrics): Promise<number> {
  try {
    return await fanOutEvents(db, FAN_OUT_BATCH)
  } catch (error) {
    if (!isDataFault(error)) {
      throw error
    }
    const counts = await writeIsolating(
      await unfannedEvents(db, FAN_OUT_BATCH),
      (ids) => fanOutEvents(db, ids.length, ids),
      async (eventId, fault) => {
        logger.error({ eventId, err: coerceError(fault) }, 'could not fan out this event; it is set aside')
        metrics.setAside('event')
        await setEventAside(db, eventId, errorText(fault))
      },
    )
    return counts.reduce((sum, n) => sum + n, 0)
  }
}

/** Claims up to request.limit; a destination that makes the claim fail is set aside for a while. */
export async function claim(
  db: Db,
  logger: Logger,
  metrics: WorkerMetrics,
  request: ClaimRequest,
): Promise<ClaimedDelivery[]> {
  try {
    return await claimDeliveries(db, request)
  } catch (error) {
    if (!isDataFault(error)) {
      throw error
    }
    let left = request.limit
    const parts = await writeIsolating(
      await readyDestinations(db, request.limit),
      async (only) => {
        const claimed = left > 0 ? await claimDeliveries(db, { ...request, limit: left, only }) : []
        left -= claimed.length
        return claimed
      },
      async (destinationId, fault) => {
        logger.error(
          { destinationId, err: coerceError(fault), retryInMs: SET_ASIDE_MS },
          'could not claim the deliveries of this destination; it is set aside',
        )
        metrics.setAside('destination')
        await setDestinationAside(db, destinationId, SET_ASIDE_MS, errorText(fault))
      },
    )
    return parts.flat()
  }
}
