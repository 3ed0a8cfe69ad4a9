import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFIG_VARIABLES, loadConfig } from '../src/config.ts'
import { formatDuration, parseDuration, parseDurationList } from '../src/duration.ts'

const KEY = randomBytes(32).toString('base64')

/** The message loadConfig refuses `env` with (and fails the test if it accepts it). */
function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' })
    return (error as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(env)}`)
}

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

  it('serves no metrics unless a port is set, and binds them to loopback unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ metricsPort: undefined, metricsHost: '127.0.0.1' })
    expect(loadConfig({ WEBHOOK_METRICS_PORT: '9464', WEBHOOK_METRICS_HOST: '::' })).toMatchObject({
      metricsPort: 9464,
      metricsHost: '::',
    })
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
    // Regression: a step this long was accepted, and the first failure's retry time overflowed
    // the outcome write of its whole batch.
    ['WEBHOOK_RETRY_SCHEDULE', '999999999999d'],
    ['WEBHOOK_RETRY_SCHEDULE', '1m,8d'],
    ['WEBHOOK_RETRY_SCHEDULE', `${'9'.repeat(30)}ms`],
    // Regression: Node's decoder skips what is not base64, so these decoded to 32 bytes.
    ['WEBHOOK_SECRETS_KEY', `${KEY}!!!!`],
    ['WEBHOOK_SECRETS_KEY', `${KEY.slice(0, 20)} ${KEY.slice(20)}`],
    ['WEBHOOK_SECRETS_KEY', KEY.replace(/=$/, '')],
    ['WEBHOOK_SECRETS_KEY_PREVIOUS', `!${KEY}`],
    ['WORKER_CONCURRENCY', '1e21'],
    ['WORKER_CONCURRENCY', '2001'],
    ['WORKER_CONCURRENCY', '1.5'],
    ['DATABASE_POOL_SIZE', '7'],
    ['NODE_ENV', 'staging'],
    ['WEBHOOK_POLL_INTERVAL', '2m'],
    ['WEBHOOK_SHUTDOWN_TIMEOUT', '1h'],
    ['WEBHOOK_SECRET_ROTATION_GRACE', '8d'],
    ['WEBHOOK_RETENTION', '36501d'],
    ['WEBHOOK_METRICS_PORT', '65536'],
    ['WEBHOOK_METRICS_PORT', '9464x'],
    ['WEBHOOK_METRICS_HOST', 'http://0.0.0.0'],
    ['WEBHOOK_METRICS_HOST', '0.0.0.0:9464'],
  ])('stops on %s=%j with one line naming the variable', (name, value) => {
    const message = problemsOf({ [name]: value })
    expect(message).toMatch(new RegExp(`^invalid ${name}: `))
    // Regression: the message took two lines (a heading, then the variable).
    expect(message.split('\n')).toHaveLength(1)
  })

  it('names every bad variable at once, one line each', () => {
    expect(problemsOf({ WEBHOOK_REQUEST_TIMEOUT: '-1s', WORKER_CONCURRENCY: 'x' }).split('\n')).toEqual([
      expect.stringMatching(/^invalid WEBHOOK_REQUEST_TIMEOUT: /),
      expect.stringMatching(/^invalid WORKER_CONCURRENCY: /),
    ])
  })

  it('says what is wrong with a number in words, echoing the value cut and printable', () => {
    expect(problemsOf({ WORKER_CONCURRENCY: '1e21' })).toBe(
      'invalid WORKER_CONCURRENCY: must be a whole number from 1 to 2000, got "1e21"',
    )
    expect(problemsOf({ WEBHOOK_REQUEST_TIMEOUT: `\u001b]0;${'9'.repeat(100)}` })).toBe(
      `invalid WEBHOOK_REQUEST_TIMEOUT: "\\x1b]0;${'9'.repeat(35)}…" is not a duration (use a number and a unit: 250ms, 10s, 1m, 2h)`,
    )
  })

  it('never echoes a secrets key or a database URL, which hold secrets', () => {
    const message = problemsOf({
      WEBHOOK_SECRETS_KEY: `${KEY}!!!!`,
      DATABASE_URL: 'mysql://user:hunter2@db/x',
    })
    expect(message).not.toContain(KEY)
    expect(message).not.toContain('hunter2')
  })

  it('caps each retry step at a week', () => {
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE: '1m,7d' }).retrySchedule).toEqual([60_000, 7 * 86_400_000])
    expect(problemsOf({ WEBHOOK_RETRY_SCHEDULE: '1m, 169h' })).toBe(
      'invalid WEBHOOK_RETRY_SCHEDULE: has a step longer than 7d: "169h"',
    )
  })

  it('takes a secrets key exactly as `openssl rand -base64 32` prints it', () => {
    expect(loadConfig({ WEBHOOK_SECRETS_KEY: KEY }).secretsKey).toBe(KEY)
  })

  it.each(CONFIG_VARIABLES)('reads %s set empty as unset: the default applies', (name) => {
    expect(loadConfig({ [name]: '' })).toEqual(loadConfig({}))
  })

  it('says in .env.example and the README that an empty variable reads as unset', () => {
    for (const file of ['../.env.example', '../README.md']) {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8').replace(/\s+/g, ' ')
      expect(text, file).toContain('An empty value (`NAME=`) reads as unset')
    }
  })

  it('requires a secrets key in production', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toMatch(/^invalid WEBHOOK_SECRETS_KEY: is required/)
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

describe('the portal settings', () => {
  it('reads the allowed frame ancestors as a list of origins, none by default', () => {
    expect(loadConfig({}).portalFrameAncestors).toEqual([])
    expect(
      loadConfig({
        WEBHOOK_PORTAL_FRAME_ANCESTORS:
          'https://app.example.com, http://localhost:3000,https://*.example.org',
      }).portalFrameAncestors,
    ).toEqual(['https://app.example.com', 'http://localhost:3000', 'https://*.example.org'])
  })

  it.each([
    "https://app.example.com; script-src 'unsafe-inline'",
    "'self'",
    'https://app.example.com/path',
    'javascript:alert(1)',
    '*',
  ])('refuses %j as a frame ancestor: it would change the policy', (value) => {
    expect(problemsOf({ WEBHOOK_PORTAL_FRAME_ANCESTORS: value })).toMatch(
      /^invalid WEBHOOK_PORTAL_FRAME_ANCESTORS: must be a comma-separated list of origins/,
    )
  })

  it('reads the public URL without a trailing slash, and refuses one with a query or credentials', () => {
    expect(loadConfig({ WEBHOOK_PORTAL_URL: 'https://webhooks.example.com/' }).portalUrl).toBe(
      'https://webhooks.example.com',
    )
    expect(problemsOf({ WEBHOOK_PORTAL_URL: 'https://x.example.com/?a=1' })).toMatch(
      /^invalid WEBHOOK_PORTAL_URL/,
    )
    expect(problemsOf({ WEBHOOK_PORTAL_URL: 'ftp://x.example.com' })).toMatch(/^invalid WEBHOOK_PORTAL_URL/)
    expect(problemsOf({ WEBHOOK_PORTAL_URL: 'https://u:p@x.example.com' })).toMatch(
      /^invalid WEBHOOK_PORTAL_URL/,
    )
  })
})
