import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFIG_VARIABLES, loadConfig } from '../src/config.ts'
import { formatDuration, parseDuration, parseDurationList } from '../src/duration.ts'

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['1.5h', 5_400_000],
    ['1d', 86_400_000],
  ])('parses %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['10', '-5s', '5 minutes', '', 'ms'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/)
  })

  it('parses the default retry schedule', () => {
    expect(parseDurationList('1m,5m,30m,2h,12h')).toEqual([60_000, 300_000, 1_800_000, 7_200_000, 43_200_000])
  })

  it('formats with the largest whole unit', () => {
    expect([300_000, 7_200_000, 1_500, 50].map(formatDuration)).toEqual(['5m', '2h', '1500ms', '50ms'])
  })
})

describe('loadConfig', () => {
  it('applies the contract defaults when nothing is set', () => {
    const config = loadConfig({})
    expect(config.retrySchedule).toEqual([60_000, 300_000, 1_800_000, 7_200_000, 43_200_000])
    expect(config.requestTimeoutMs).toBe(10_000)
    expect(config.allowPrivateTargets).toEqual({ all: false, cidrs: [] })
    expect(config.databaseUrl).toBeUndefined()
    expect(config.retentionMs).toBeUndefined()
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('accepts short test schedules and unit-bearing timeouts', () => {
    const config = loadConfig({ WEBHOOK_RETRY_SCHEDULE: '50ms,50ms', WEBHOOK_REQUEST_TIMEOUT: '1s' })
    expect(config.retrySchedule).toEqual([50, 50])
    expect(config.requestTimeoutMs).toBe(1000)
  })

  it('has every variable listed in .env.example, and nothing else there', () => {
    const listed = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
      .split('\n')
      .flatMap((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1] ?? [])
    expect([...listed].sort()).toEqual([...CONFIG_VARIABLES].sort())
  })

  it("has every variable in the README's configuration table, and nothing else there", () => {
    // Regression: five variables were read but missing from the table.
    const rows = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
      .split('\n')
      .flatMap((line) => /^\| `([A-Z][A-Z0-9_]*)` \|/.exec(line)?.[1] ?? [])
    expect([...rows].sort()).toEqual([...CONFIG_VARIABLES].sort())
  })

  it('bounds a worker statement by 10 s unless told otherwise', () => {
    expect(loadConfig({}).queryTimeoutMs).toBe(10_000)
    expect(loadConfig({ DATABASE_QUERY_TIMEOUT: '2s' }).queryTimeoutMs).toBe(2_000)
  })

  it('reads a retention window in days', () => {
    expect(loadConfig({ WEBHOOK_RETENTION: '30d' }).retentionMs).toBe(30 * 86_400_000)
  })

  it.each([
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'http://example.com/db'],
    ['WEBHOOK_RETRY_SCHEDULE', '1m,,5m'],
    ['WEBHOOK_RETRY_SCHEDULE', '1m,0s'],
    ['WEBHOOK_REQUEST_TIMEOUT', '-5s'],
    ['WEBHOOK_REQUEST_TIMEOUT', '10'],
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', 'lots'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'maybe'],
    // Regression: these passed validation and crashed the worker once it had started.
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', '10.0.0.0/99'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', '999.0.0.0/8'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', '1.2.3/8'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', '127.0.0.0/8,fd00::/129'],
    ['WEBHOOK_SECRETS_KEY', 'c2hvcnQ='],
    ['LOG_LEVEL', 'loud'],
    ['WEBHOOK_RETENTION', '10m'],
    ['WEBHOOK_RETENTION', '30'],
    ['DATABASE_QUERY_TIMEOUT', '10ms'],
    ['DATABASE_QUERY_TIMEOUT', 'forever'],
  ])('stops on %s=%j with a message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name}: `))
  })

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ WEBHOOK_REQUEST_TIMEOUT: '-1s', WORKER_CONCURRENCY: 'x' })).toThrow(
      /WEBHOOK_REQUEST_TIMEOUT[\s\S]*WORKER_CONCURRENCY/,
    )
  })

  it('requires a secrets key in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/WEBHOOK_SECRETS_KEY: is required/)
  })

  it('reads an allowlist of private CIDRs', () => {
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8, ::1/128' }).allowPrivateTargets).toEqual(
      {
        all: false,
        cidrs: ['127.0.0.0/8', '::1/128'],
      },
    )
  })
})
