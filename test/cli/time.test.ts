import { describe, expect, it } from 'vitest'
import { UsageError } from '../../src/cli/io.ts'
import { formatProgress } from '../../src/cli/progress.ts'
import { parseRange, parseTime } from '../../src/cli/time.ts'

const now = new Date('2026-05-04T12:00:00Z')

describe('parseTime', () => {
  it.each([
    ['2026-05-01T10:00:00Z', '2026-05-01T10:00:00.000Z'],
    ['2026-05-01T10:00:00.250+02:00', '2026-05-01T08:00:00.250Z'],
    ['2026-05-01', '2026-05-01T00:00:00.000Z'],
    ['24h', '2026-05-03T12:00:00.000Z'],
    ['7d', '2026-04-27T12:00:00.000Z'],
    ['90m', '2026-05-04T10:30:00.000Z'],
  ])('reads %s as %s', (text, expected) => {
    expect(parseTime(text, '--since', now).toISOString()).toBe(expected)
  })

  // Regression: a time without an offset was read in the host's time zone (another row count under
  // each TZ), while a date alone was UTC. Both are UTC now, whatever TZ says.
  it.each(['Pacific/Kiritimati', 'America/Los_Angeles', 'UTC'])(
    'reads a time without an offset as UTC under TZ=%s',
    (zone) => {
      const before = process.env['TZ']
      process.env['TZ'] = zone
      try {
        expect(parseTime('2026-12-06T04:04', '--since', now).toISOString()).toBe('2026-12-06T04:04:00.000Z')
        expect(parseTime('2026-12-06 04:04:05.5', '--since', now).toISOString()).toBe(
          '2026-12-06T04:04:05.500Z',
        )
        expect(parseTime('2026-12-06', '--since', now).toISOString()).toBe('2026-12-06T00:00:00.000Z')
      } finally {
        if (before === undefined) {
          delete process.env['TZ']
        } else {
          process.env['TZ'] = before
        }
      }
    },
  )

  // Regression: 2026-02-30 was read as 2 March.
  it.each(['yesterday', '24', '2026-13-45', '', '-1h', '2026-02-30', '2026-04-31T10:00:00Z', '2025-02-29'])(
    'refuses %j as a usage error naming the flag',
    (text) => {
      expect(() => parseTime(text, '--until', now)).toThrow(UsageError)
      expect(() => parseTime(text, '--until', now)).toThrow(/^--until must be an ISO timestamp/)
    },
  )

  // Regression: a time PostgreSQL cannot hold crashed the command with "timestamp out of range".
  it.each(['99999999d', '999999999999999d', '0001-01-01', '1969-12-31T23:59:59Z'])(
    'refuses %j as out of range',
    (text) => {
      expect(() => parseTime(text, '--since', now)).toThrow(UsageError)
      expect(() => parseTime(text, '--since', now)).toThrow(
        /^--since must lie between 1970-01-01 and 9999-12-31 \(UTC\)/,
      )
    },
  )

  it('reads a leap day', () => {
    expect(parseTime('2028-02-29', '--since', now).toISOString()).toBe('2028-02-29T00:00:00.000Z')
  })
})

describe('parseRange', () => {
  it('keeps only the bounds given, and refuses an empty range', () => {
    expect(parseRange(undefined, undefined, now)).toEqual({})
    expect(parseRange('2h', undefined, now)).toEqual({ since: new Date('2026-05-04T10:00:00Z') })
    expect(() => parseRange('1h', '2h', now)).toThrow('--since must be before --until')
  })
})

describe('formatProgress', () => {
  it.each([
    [0, 10, `replayed 0/10 [>${' '.repeat(29)}]`],
    [5, 10, `replayed 5/10 [${'='.repeat(15)}>${' '.repeat(14)}]`],
    [10, 10, `replayed 10/10 [${'='.repeat(30)}]`],
    [0, 0, `replayed 0/0 [${'='.repeat(30)}]`],
  ])('draws %i of %i', (done, total, expected) => {
    expect(formatProgress('replayed', done, total)).toBe(expected)
  })
})
