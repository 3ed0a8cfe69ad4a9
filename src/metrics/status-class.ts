import type { AttemptOutcome } from '../store/database.ts'

/**
 * What an attempt's answer was, as a metric label: an HTTP status class, or the kind of failure
 * that left no answer. A closed set, so a label never holds a status code, URL or message.
 */
export const STATUS_CLASSES = [
  '1xx',
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'timeout',
  'connection_error',
  'refused_target',
  'not_sent',
  'aborted',
  'other',
] as const

export type StatusClass = (typeof STATUS_CLASSES)[number]

/** Attempt error codes (src/delivery) with no HTTP answer, by class; any other code is `other`. */
const ERROR_CLASSES: Readonly<Record<string, StatusClass>> = {
  timeout: 'timeout',
  connection_refused: 'connection_error',
  connection_reset: 'connection_error',
  dns_failure: 'connection_error',
  host_unreachable: 'connection_error',
  tls_error: 'connection_error',
  request_failed: 'connection_error',
  target_refused: 'refused_target',
  invalid_url: 'refused_target',
  endpoint_disabled: 'not_sent',
  no_signing_secret: 'not_sent',
  aborted: 'aborted',
}

/**
 * The classes each outcome can have, for series that exist (at 0) from the start: a receiver's
 * 2xx is the only way to be delivered, refused and unsent attempts are dropped at once, and an
 * attempt is lost here only when the worker stopped during it.
 */
export const OUTCOME_CLASSES: Readonly<Record<AttemptOutcome, readonly StatusClass[]>> = {
  delivered: ['2xx'],
  retrying: ['1xx', '3xx', '4xx', '5xx', 'timeout', 'connection_error', 'other'],
  dropped: ['1xx', '3xx', '4xx', '5xx', 'timeout', 'connection_error', 'refused_target', 'not_sent', 'other'],
  lost: ['aborted'],
}

const HTTP_CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx']

/** The class of an attempt that got `statusCode` (null: no answer) or failed with `errorCode`. */
export function statusClass(statusCode: number | null, errorCode: string | null): StatusClass {
  if (statusCode !== null) {
    return HTTP_CLASSES[Math.floor(statusCode / 100) - 1] ?? 'other'
  }
  return (
    (errorCode !== null && Object.hasOwn(ERROR_CLASSES, errorCode) && ERROR_CLASSES[errorCode]) || 'other'
  )
}
