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
