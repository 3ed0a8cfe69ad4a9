import { shown } from '../text.ts'
import { UsageError } from './io.ts'

// An endpoint's limits as the CLI reads and shows them. `default` / `none` clear a limit.

/** `--max-in-flight N`: 1 to 1000; `default`: the workers' WEBHOOK_DESTINATION_CONCURRENCY (null). */
export function parseMaxInFlight(text: string): number | null {
  if (text === 'default') {
    return null
  }
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000) {
    throw new UsageError(
      `--max-in-flight must be a whole number from 1 to 1000, or default; got ${shown(text, 40)}`,
    )
  }
  return Number(text)
}

const PER = { s: 1, m: 60 } as const

/**
 * `--rate-limit 50/s` or `600/m` (a number, then per second or per minute): requests per second,
 * more than 0 and at most 10000; `none`: no limit (null).
 */
export function parseRateLimit(text: string): number | null {
  if (text === 'none') {
    return null
  }
  const match = /^(\d{1,6}(?:\.\d{1,3})?)\/(s|m)$/.exec(text)
  const perSecond = match === null ? Number.NaN : Number(match[1]) / PER[match[2] as keyof typeof PER]
  if (!(perSecond > 0 && perSecond <= 10_000)) {
    throw new UsageError(
      `--rate-limit must be requests per second or per minute, such as 50/s or 30/m (at most 10000/s), or none; got ${shown(text, 40)}`,
    )
  }
  return perSecond
}

/** A rate as the operator would write it: per second when that is whole, else per minute. */
export function formatRateLimit(perSecond: number | null): string {
  if (perSecond === null) {
    return 'none'
  }
  if (Number.isInteger(perSecond)) {
    return `${perSecond}/s`
  }
  return `${Number((perSecond * 60).toFixed(3))}/m`
}

/** `10 in flight, 50/s`, with the cap's default spelled out. */
export function formatLimits(maxInFlight: number | null, perSecond: number | null): string {
  const cap = maxInFlight === null ? 'default in flight' : `${maxInFlight} in flight`
  return perSecond === null ? cap : `${cap}, ${formatRateLimit(perSecond)}`
}
