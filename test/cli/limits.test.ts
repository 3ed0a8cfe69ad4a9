import { describe, expect, it } from 'vitest'
import { UsageError } from '../../src/cli/io.ts'
import { formatLimits, formatRateLimit, parseMaxInFlight, parseRateLimit } from '../../src/cli/limits.ts'

describe('--max-in-flight', () => {
  it.each<[string, number | null]>([
    ['1', 1],
    ['10', 10],
    ['1000', 1000],
    ['default', null],
  ])('reads %j as %o', (text, expected) => {
    expect(parseMaxInFlight(text)).toBe(expected)
  })

  it.each(['0', '1001', '-1', '2.5', '1e3', '', ' 5', 'ten', '00000000001'])('refuses %j', (text) => {
    expect(() => parseMaxInFlight(text)).toThrow(UsageError)
  })
})

describe('--rate-limit', () => {
  it.each<[string, number | null]>([
    ['50/s', 50],
    ['1/s', 1],
    ['0.5/s', 0.5],
    ['30/m', 0.5],
    ['600/m', 10],
    ['10000/s', 10_000],
    ['none', null],
  ])('reads %j as %o per second', (text, expected) => {
    expect(parseRateLimit(text)).toBe(expected)
  })

  it.each(['50', '0/s', '10001/s', '5/h', '/s', '-1/s', '1e2/s', '50/S', '50 /s', '0.0001/s'])(
    'refuses %j',
    (text) => {
      expect(() => parseRateLimit(text)).toThrow(UsageError)
    },
  )

  it.each<[number | null, string]>([
    [50, '50/s'],
    [0.5, '30/m'],
    [1 / 60, '1/m'],
    [null, 'none'],
  ])('shows %o per second as %j', (perSecond, text) => {
    expect(formatRateLimit(perSecond)).toBe(text)
  })

  it('shows both limits together, the default cap by name', () => {
    expect(formatLimits(null, null)).toBe('default in flight')
    expect(formatLimits(3, 50)).toBe('3 in flight, 50/s')
  })
})
