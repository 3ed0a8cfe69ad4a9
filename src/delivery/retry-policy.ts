import type { Classification } from './classify.ts'

export type Decision =
  | { status: 'delivered' }
  | { status: 'pending'; nextAttemptAt: Date }
  | { status: 'dropped' }

/**
 * What happens after an attempt. `failuresBefore` counts the failed attempts of the current
 * retry budget before this one; the budget is one attempt plus one retry per schedule step,
 * each step measured from the failure before it. A Retry-After never makes a retry earlier
 * than the schedule (it is already capped by the classifier).
 *
 * @example decide({ kind: 'failure' }, 0, [60_000], now) // pending, now + 1m
 */
export function decide(
  outcome: Classification,
  failuresBefore: number,
  schedule: readonly number[],
  now: Date,
): Decision {
  if (outcome.kind === 'success') {
    return { status: 'delivered' }
  }
  const step = schedule[failuresBefore]
  if (outcome.kind === 'permanent' || step === undefined) {
    return { status: 'dropped' }
  }
  const delay = Math.max(step, outcome.retryAfterMs ?? 0)
  return { status: 'pending', nextAttemptAt: new Date(now.getTime() + delay) }
}
