import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Classification } from '../../src/delivery/classify.ts'
import { classifyStatus, parseRetryAfter } from '../../src/delivery/classify.ts'
import { decide } from '../../src/delivery/retry-policy.ts'

const NOW = new Date('2026-05-04T10:00:00.000Z')
const S = 1_000
const M = 60 * S
const H = 60 * M
const CONTRACT_SCHEDULE = [1 * M, 5 * M, 30 * M, 2 * H, 12 * H]
const HTTP_DATE_IN_90S = new Date(NOW.getTime() + 90 * S).toUTCString()

describe('classifyStatus', () => {
  it.each<[number, string | undefined, Classification]>([
    [200, undefined, { kind: 'success' }],
    [201, undefined, { kind: 'success' }],
    [204, undefined, { kind: 'success' }],
    [299, undefined, { kind: 'success' }],
    [301, undefined, { kind: 'failure' }],
    [304, undefined, { kind: 'failure' }],
    [400, undefined, { kind: 'failure' }],
    [401, undefined, { kind: 'failure' }],
    [404, undefined, { kind: 'failure' }],
    [410, undefined, { kind: 'failure' }],
    [410, '60', { kind: 'failure' }],
    [429, undefined, { kind: 'failure' }],
    [429, '30', { kind: 'failure', retryAfterMs: 30 * S }],
    [429, HTTP_DATE_IN_90S, { kind: 'failure', retryAfterMs: 90 * S }],
    [429, 'soon', { kind: 'failure' }],
    [503, '0', { kind: 'failure', retryAfterMs: 0 }],
    [503, '7200', { kind: 'failure', retryAfterMs: 2 * H }],
    [503, '86400', { kind: 'failure', retryAfterMs: 12 * H }],
    [503, '9999999999999999999999', { kind: 'failure', retryAfterMs: 12 * H }],
    [500, '30', { kind: 'failure' }],
    [502, '30', { kind: 'failure' }],
    [100, undefined, { kind: 'failure' }],
  ])('%i with Retry-After %j is %o', (status, retryAfter, expected) => {
    expect(classifyStatus(status, retryAfter, NOW)).toEqual(expected)
  })
})

describe('parseRetryAfter', () => {
  it.each<[string, number | undefined]>([
    ['0', 0],
    ['1', 1 * S],
    ['120', 120 * S],
    [' 5 ', 5 * S],
    [HTTP_DATE_IN_90S, 90 * S],
    ['Mon, 04 May 2026 10:00:30 GMT', 30 * S],
    ['Mon, 04 May 2026 09:00:00 GMT', 0],
    ['Sun, 06 Nov 1994 08:49:37 GMT', 0],
    ['', undefined],
    ['   ', undefined],
    ['soon', undefined],
    ['never', undefined],
    ['12h', undefined],
    ['1e3', undefined],
    ['0x10', undefined],
  ])('reads %j as %o ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected)
  })
})

describe('decide', () => {
  const failure: Classification = { kind: 'failure' }

  it.each([
    [0, 1 * M],
    [1, 5 * M],
    [2, 30 * M],
    [3, 2 * H],
    [4, 12 * H],
  ])('after failure %i of the budget, retries one schedule step (%i ms) later', (failuresBefore, delay) => {
    expect(decide(failure, failuresBefore, CONTRACT_SCHEDULE)).toEqual({
      status: 'pending',
      retryInMs: delay,
    })
  })

  it('drops the delivery when the last step has been used', () => {
    expect(decide(failure, 5, CONTRACT_SCHEDULE)).toEqual({ status: 'dropped' })
    expect(decide(failure, 1, [100])).toEqual({ status: 'dropped' })
    expect(decide(failure, 0, [])).toEqual({ status: 'dropped' })
  })

  it('drops a permanent failure at once, whatever budget is left', () => {
    expect(decide({ kind: 'permanent' }, 0, CONTRACT_SCHEDULE)).toEqual({ status: 'dropped' })
  })

  it('delivers on success, even on the last attempt', () => {
    expect(decide({ kind: 'success' }, 0, CONTRACT_SCHEDULE)).toEqual({ status: 'delivered' })
    expect(decide({ kind: 'success' }, 5, CONTRACT_SCHEDULE)).toEqual({ status: 'delivered' })
  })

  it.each([
    ['shorter than the step: the step wins', 0, 10 * S, 1 * M],
    ['longer than the step: Retry-After wins', 0, 2 * H, 2 * H],
    ['longer than a later step', 3, 5 * H, 5 * H],
    ['shorter than a later step', 4, 1 * H, 12 * H],
    ['zero', 1, 0, 5 * M],
  ])('with a Retry-After %s', (_, failuresBefore, retryAfterMs, delay) => {
    expect(decide({ kind: 'failure', retryAfterMs }, failuresBefore, CONTRACT_SCHEDULE)).toEqual({
      status: 'pending',
      retryInMs: delay,
    })
  })

  it('still drops after the last step when the receiver sends Retry-After', () => {
    expect(decide({ kind: 'failure', retryAfterMs: 1 * M }, 5, CONTRACT_SCHEDULE)).toEqual({
      status: 'dropped',
    })
  })

  it('never retries earlier than the schedule, nor later than 12 h past it, whatever the receiver answers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.oneof(
          fc.string(),
          fc.nat().map(String),
          fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
        ),
        fc.integer({ min: 0, max: CONTRACT_SCHEDULE.length - 1 }),
        (status, retryAfter, failuresBefore) => {
          const decision = decide(classifyStatus(status, retryAfter, NOW), failuresBefore, CONTRACT_SCHEDULE)
          if (decision.status !== 'pending') {
            return status >= 200 && status < 300
          }
          const delay = decision.retryInMs
          const step = CONTRACT_SCHEDULE[failuresBefore] ?? 0
          return delay >= step && delay <= Math.max(step, 12 * H)
        },
      ),
      { numRuns: 500 },
    )
  })
})
