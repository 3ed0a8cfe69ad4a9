import { WebhookError } from './errors.ts'
import { shown } from './text.ts'

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/**
 * Parses a duration such as `250ms`, `10s`, `1m`, `2h` or `1.5h` into milliseconds.
 * A bare number is not accepted: a unit is always required, so `10` cannot mean two things.
 * @example parseDuration('5m') // 300000
 */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text)
  if (!match) {
    throw new WebhookError(
      'INVALID_ARGUMENT',
      `"${shown(text, 40)}" is not a duration (use a number and a unit: 250ms, 10s, 1m, 2h)`,
    )
  }
  const unit = match[2] as keyof typeof UNIT_MS
  return Math.round(Number(match[1]) * UNIT_MS[unit])
}

/** Parses a comma-separated list of durations, e.g. a retry schedule `1m,5m,30m,2h,12h`. */
export function parseDurationList(text: string): number[] {
  return text.split(',').map((part) => parseDuration(part))
}

/** Formats milliseconds with the largest unit that divides them: 300000 -> `5m`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) {
      return `${ms / UNIT_MS[unit]}${unit}`
    }
  }
  return `${ms}ms`
}
