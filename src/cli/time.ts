import { parseDuration } from '../duration.ts'
import { shown } from '../text.ts'
import { UsageError } from './io.ts'

/**
 * A point in time given on the command line: an ISO 8601 timestamp (`2026-05-04T10:00:00Z`,
 * `2026-05-04`; without an offset it is UTC) or a duration ago (`24h`, `7d`, `90m`).
 * @example parseTime('24h', '--since', now) // 24 hours before now
 */
export function parseTime(text: string, flag: string, now: Date = new Date()): Date {
  const refuse = () =>
    new UsageError(
      `${flag} must be an ISO timestamp (2026-05-04T10:00:00Z) or a duration ago (24h, 7d), got "${shown(text, 40)}"`,
    )
  const at = parseTimestamp(text.trim()) ?? durationAgo(text, now)
  if (at === undefined) {
    throw refuse()
  }
  // PostgreSQL refuses years past its range with a bare error; no history is that old anyway.
  const year = at.getUTCFullYear()
  if (!(year >= 1970 && year <= 9999)) {
    throw new UsageError(`${flag} must lie between 1970-01-01 and 9999-12-31 (UTC), got "${shown(text, 40)}"`)
  }
  return at
}

function parseTimestamp(text: string): Date | undefined {
  const match = /^(\d{4})-(\d\d)-(\d\d)([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.exec(text)
  if (!match) {
    return undefined
  }
  // Date rolls 2026-02-30 over to 2 March; a day its month does not have is refused instead.
  const [year, month, day] = [match[1], match[2], match[3]].map(Number) as [number, number, number]
  const calendar = new Date(Date.UTC(year, month - 1, day))
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) {
    return undefined
  }
  // Without an offset, a time is UTC, as a date alone is (JavaScript would read it in the host's
  // time zone, so the same command would select other rows on another machine).
  const utc = match[4] !== undefined && match[7] === undefined ? `${text.replace(' ', 'T')}Z` : text
  const at = new Date(utc)
  return Number.isNaN(at.getTime()) ? undefined : at
}

function durationAgo(text: string, now: Date): Date | undefined {
  try {
    return new Date(now.getTime() - parseDuration(text))
  } catch {
    return undefined
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
