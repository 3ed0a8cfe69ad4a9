import type { AttemptOutcome, DeliveryStatus } from '../store/database.ts'
import type { Classification } from './classify.ts'

export type Decision =
  | { status: 'delivered' }
  | { status: 'pending'; retryInMs: number }
  | { status: 'dropped' }

/**
 * What happens after an attempt. `failuresBefore` counts the failed attempts of the current
 * retry budget before this one; the budget is one attempt plus one retry per schedule step,
 * each step measured from the failure before it. A Retry-After never makes a retry earlier
 * than the schedule (it is already capped by the classifier). The delay is relative: the
 * database adds it to its own clock when it records the outcome, so a worker's clock never
 * moves a retry.
 *
 * @example decide({ kind: 'failure' }, 0, [60_000]) // pending, retry in 1m
 */
export function decide(
  outcome: Classification,
  failuresBefore: number,
  schedule: readonly number[],
): Decision {
  if (outcome.kind === 'success') {
    return { status: 'delivered' }
  }
  const step = schedule[failuresBefore]
  if (outcome.kind === 'permanent' || step === undefined) {
    return { status: 'dropped' }
  }
  return { status: 'pending', retryInMs: Math.max(step, outcome.retryAfterMs ?? 0) }
}

/** How an attempt is written: its outcome, the delivery's new status and when it is due again. */
export type Settlement = { outcome: AttemptOutcome; status: DeliveryStatus; retryInMs: number | null }

/** decide() as the attempt row and the delivery state record it. */
export function settle(
  outcome: Classification,
  failuresBefore: number,
  schedule: readonly number[],
): Settlement {
  const decision = decide(outcome, failuresBefore, schedule)
  return decision.status === 'pending'
    ? { outcome: 'retrying', status: 'pending', retryInMs: decision.retryInMs }
    : { outcome: decision.status, status: decision.status, retryInMs: null }
}

/**
 * Our worker stopped during the request, not the receiver: the attempt is logged as lost, the
 * delivery is due again at once, and no retry is spent.
 */
export const ABANDONED: Settlement = { outcome: 'lost', status: 'pending', retryInMs: 0 }

/**
 * The pauses before each probe of a destination that cannot be reached: 1 s, doubling, up to the
 * first retry delay (1 m by default), whose length they never exceed, so a destination that
 * comes back is found within one retry delay. Index n is the pause after the (n+1)-th probe that
 * failed in a row; the last one repeats.
 *
 * @example probePauses([60_000, 300_000]) // [1000, 2000, 4000, 8000, 16000, 32000, 60000]
 */
export function probePauses(schedule: readonly number[]): number[] {
  const longest = schedule[0] ?? 60_000
  const pauses: number[] = []
  for (let pause = Math.min(1_000, longest); ; pause = Math.min(longest, pause * 2)) {
    pauses.push(pause)
    if (pause >= longest) {
      return pauses
    }
  }
}
