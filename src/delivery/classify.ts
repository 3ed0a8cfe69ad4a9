import type { DestinationSignal } from '../store/outcomes.ts'

/** What one attempt's answer means, before the retry policy decides what happens next. */
export type Classification =
  | { kind: 'success' }
  | { kind: 'failure'; retryAfterMs?: number }
  /** Retrying cannot help (refused target, no secret): drop now. */
  | { kind: 'permanent' }

const MAX_RETRY_AFTER_MS = 12 * 3_600_000

/**
 * 2xx is success; 429/503 may carry Retry-After; anything else is a failure, retried on schedule.
 * 410 Gone too: the contract makes every non-2xx answer a failure, and a stray 410 (a proxy
 * during a deploy) must not cut an endpoint off, dropping its retries and its later events.
 */
export function classifyStatus(
  statusCode: number,
  retryAfter: string | undefined,
  now: Date,
): Classification {
  if (statusCode >= 200 && statusCode < 300) {
    return { kind: 'success' }
  }
  if ((statusCode === 429 || statusCode === 503) && retryAfter !== undefined) {
    const delay = parseRetryAfter(retryAfter, now)
    if (delay !== undefined) {
      return { kind: 'failure', retryAfterMs: Math.min(delay, MAX_RETRY_AFTER_MS) }
    }
  }
  return { kind: 'failure' }
}

/** Retry-After as delay-seconds or an HTTP date; undefined when unreadable. */
export function parseRetryAfter(value: string, now: Date): number | undefined {
  const text = value.trim()
  if (/^\d+$/.test(text)) {
    return Number(text) * 1000
  }
  const date = Date.parse(text)
  if (Number.isNaN(date)) {
    return undefined
  }
  return Math.max(0, date - now.getTime())
}

/** Transport failures that no retry can fix: a target refused by policy, a URL that cannot be used. */
const PERMANENT_TRANSPORT = new Set(['target_refused', 'invalid_url'])

/** A failed exchange (no complete answer) by its code: permanent, or a failure retried on schedule. */
export function classifyTransportError(code: string): Classification {
  return PERMANENT_TRANSPORT.has(code) ? { kind: 'permanent' } : { kind: 'failure' }
}

/** Transport failures that say the destination cannot be reached now, so it backs off. */
const UNREACHABLE = new Set([
  'timeout',
  'connection_refused',
  'connection_reset',
  'dns_failure',
  'host_unreachable',
  'tls_error',
])

/**
 * What an attempt tells of its destination: any HTTP answer (whatever its status) says it is
 * reachable; a timeout or a connection that could not be made, kept or secured says it is not;
 * anything else (nothing sent, the worker stopping, a refused target) says nothing.
 */
export function destinationSignal(ending: {
  statusCode: number | null
  errorCode: string | null
}): DestinationSignal {
  if (ending.statusCode !== null) {
    return 'answered'
  }
  return ending.errorCode !== null && UNREACHABLE.has(ending.errorCode) ? 'unreachable' : null
}
