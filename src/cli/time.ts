import { parseDuration } from '../duration.ts'
import { UsageError } from './io.ts'

/**
 * A point in time given on the command line: an ISO 8601 timestamp (`2026-05-04T10:00:00Z`,
 * `2026-05-04`) or a duration ago (`24h`, `7d`, `90m`).
 * @example parseTime('24h', '--since', now) // 24 hours before now
 */
export function parseTime(text: string, flag: string, now: Date = new Date()): Date {
  if (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(text.trim())) {
    const at = new Date(text.trim())
    if (!Number.isNaN(at.getTime())) {
      return at
    }
  }
  try {
    return new Date(now.getTime() - parseDuration(text))
  } catch {
    throw new UsageError(
      `${flag} must be an ISO timestamp (2026-05-04T10:00:00Z) or a duration ago (24h, 7d), got "${text}"`,
    )
  }
}

/** Parses optional --since/--until and checks that the range is not empty. */
export function parseRange(
  since: string | undefined,
  until: string | undefined,
  now: Date = new Date(),
): { since?: Date; until?: Date } {
  const range = {
    ...(since === undefined ? {} : { since: parseTime(since, '--since', now) }),
    ...(until === undefined ? {} : { until: parseTime(until, '--until', now) }),
  }
  if (range.since && range.until && range.since >= range.until) {
    throw new UsageError('--since must be before --until')
  }
  return range
}
