import { describe, expect, it } from 'vitest'
import { OUTCOME_CLASSES, STATUS_CLASSES, statusClass } from '../../src/metrics/status-class.ts'

describe('the status class of an attempt', () => {
  it.each([
    [200, null, '2xx'],
    [204, null, '2xx'],
    [101, null, '1xx'],
    [301, null, '3xx'],
    [404, 'http_404', '4xx'],
    [410, 'http_410', '4xx'],
    [429, 'http_429', '4xx'],
    [500, 'http_500', '5xx'],
    [503, 'http_503', '5xx'],
    [599, 'http_599', '5xx'],
    [600, 'http_600', 'other'],
    [99, 'http_99', 'other'],
    [null, 'timeout', 'timeout'],
    [null, 'connection_refused', 'connection_error'],
    [null, 'connection_reset', 'connection_error'],
    [null, 'dns_failure', 'connection_error'],
    [null, 'host_unreachable', 'connection_error'],
    [null, 'tls_error', 'connection_error'],
    [null, 'request_failed', 'connection_error'],
    [null, 'target_refused', 'refused_target'],
    [null, 'invalid_url', 'refused_target'],
    [null, 'endpoint_disabled', 'not_sent'],
    [null, 'no_signing_secret', 'not_sent'],
    [null, 'aborted', 'aborted'],
    [null, 'internal', 'other'],
    [null, 'SECRET_UNREADABLE', 'other'],
    // A code that is a property of every object must not pass for a class.
    [null, 'constructor', 'other'],
    [null, null, 'other'],
  ])('is %j / %j -> %s', (statusCode, errorCode, expected) => {
    expect(statusClass(statusCode, errorCode)).toBe(expected)
  })

  it('is one of a closed set whatever the answer, so a label never holds a code or message', () => {
    const seen = new Set(Array.from({ length: 1000 }, (_, code) => statusClass(code, `http_${code}`)))
    seen.add(statusClass(null, 'https://customer.example/hook refused'))
    expect([...seen].filter((c) => !STATUS_CLASSES.includes(c))).toEqual([])
  })

  it('lists, per outcome, only classes of the closed set', () => {
    for (const classes of Object.values(OUTCOME_CLASSES)) {
      for (const c of classes) {
        expect(STATUS_CLASSES).toContain(c)
      }
    }
  })
})
