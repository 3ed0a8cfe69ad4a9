import { isIP } from 'node:net'
import { z } from 'zod'
import { parseCidr } from './delivery/addresses.ts'
import { formatDuration, parseDuration, parseDurationList } from './duration.ts'
import { WebhookError } from './errors.ts'
import { shown } from './text.ts'

/**
 * A variable's parser: returns its value or throws an Error whose message says what is wrong.
 * Each variable thus yields exactly one problem, so each bad variable is one line.
 */
const checked = <T>(parse: (text: string) => T) =>
  z.string().transform((text, ctx): T => {
    try {
      return parse(text)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
      return z.NEVER
    }
  })

/** A value echoed in a message (never a secret's): quoted, printable, cut. */
const quoted = (text: string) => `"${shown(text, 40)}"`

function durationIn(text: string, min: number, max: number): number {
  const ms = parseDuration(text)
  if (ms < min || ms > max) {
    throw new Error(`must be between ${formatDuration(min)} and ${formatDuration(max)}, got ${quoted(text)}`)
  }
  return ms
}

const duration = (min: number, max: number) => checked((text) => durationIn(text, min, max))

/** The longest single retry step: a week; longer is a typo (and overflows the date arithmetic). */
export const MAX_RETRY_STEP_MS = 7 * 86_400_000

const schedule = checked((text) => {
  const steps = parseDurationList(text)
  if (steps.length > 20 || steps.some((ms) => ms <= 0)) {
    throw new Error('must list 1 to 20 positive durations, e.g. 1m,5m,30m,2h,12h')
  }
  const long = text.split(',').find((part) => parseDuration(part) > MAX_RETRY_STEP_MS)
  if (long !== undefined) {
    throw new Error(`has a step longer than ${formatDuration(MAX_RETRY_STEP_MS)}: ${quoted(long.trim())}`)
  }
  return steps
})

const integer = (min: number, max: number) =>
  checked((text) => {
    const value = Number(text)
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new Error(`must be a whole number from ${min} to ${max}, got ${quoted(text)}`)
    }
    return value
  })

/** The sslmode values pg acts on; any other is read as SSL with full verification, silently. */
const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const

/** Never echoes the URL: it may hold a password. */
const postgresUrl = checked((text) => {
  if (!/^postgres(ql)?:\/\//.test(text) || !URL.canParse(text)) {
    throw new Error('must be a postgres:// URL')
  }
  const sslmode = new URL(text).searchParams.get('sslmode')
  if (sslmode !== null && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new Error(`has sslmode=${shown(sslmode, 40)}; use one of ${SSL_MODES.join(', ')}`)
  }
  return text
})

const oneOf = <const T extends string>(values: readonly T[]) =>
  checked((text): T => {
    if (!values.includes(text as T)) {
      throw new Error(`must be one of ${values.join(', ')}, got ${quoted(text)}`)
    }
    return text as T
  })

/** `true`/`false`, or a comma-separated list of CIDRs that are allowed although private. */
const privateTargets = checked((text) => {
  const value = text.trim().toLowerCase()
  if (value === 'true' || value === '1') {
    return { all: true, cidrs: [] as string[] }
  }
  if (value === 'false' || value === '0') {
    return { all: false, cidrs: [] as string[] }
  }
  const cidrs = value.split(',').map((part) => part.trim())
  for (const cidr of cidrs) {
    try {
      parseCidr(cidr)
    } catch (error) {
      throw new Error(`must be true, false or a list of CIDRs: ${(error as Error).message}`)
    }
  }
  return { all: false, cidrs }
})

/** An IP literal or a host name to bind the metrics server to. */
const listenHost = checked((text) => {
  if (isIP(text) === 0 && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(text)) {
    throw new Error(`must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0, got ${quoted(text)}`)
  }
  return text
})

/**
 * 32 bytes in standard base64, exactly as `openssl rand -base64 32` prints them. Node's decoder
 * skips characters that are not base64, so a key with stray ones decodes to 32 bytes anyway;
 * encoding the bytes again must give back the text. Never echoes the key.
 */
const secretsKey = checked((text) => {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.length !== 32 || bytes.toString('base64') !== text) {
    throw new Error(
      'must be 32 bytes in standard base64 (44 characters, as `openssl rand -base64 32` prints)',
    )
  }
  return text
})

/** An origin as a CSP source: scheme://host[:port], the host's first label may be `*`; nothing else. */
const ORIGIN =
  /^https?:\/\/(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/

/**
 * The origins allowed to frame the portal (the render service's dashboard), comma-separated. Each
 * is checked whole: it goes into the Content-Security-Policy header, where a `;` or a quote would
 * add directives of its own.
 */
const frameAncestors = checked((text) => {
  const origins = text
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part !== '')
  for (const origin of origins) {
    if (!ORIGIN.test(origin)) {
      throw new Error(
        `must be a comma-separated list of origins such as https://app.example.com, got ${quoted(origin)}`,
      )
    }
  }
  return origins
})

/** The portal's public base URL: http(s), no query or fragment. */
const publicUrl = checked((text) => {
  if (!URL.canParse(text)) {
    throw new Error(`must be an http(s) URL such as https://webhooks.example.com, got ${quoted(text)}`)
  }
  const url = new URL(text)
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    throw new Error(`must be an http(s) URL without query or fragment, got ${quoted(text)}`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('must not hold a user name or password')
  }
  return url.origin + url.pathname.replace(/\/+$/, '')
})

/**
 * How much history a prune may keep, for the CLI's --older-than and WEBHOOK_RETENTION alike:
 * under an hour is almost certainly a typo (and would take what operators still replay); over a
 * century keeps everything anyway, and would overflow the date arithmetic.
 */
export const RETENTION_MS = { min: 3_600_000, max: 36_500 * 86_400_000 } as const

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  NODE_ENV: oneOf(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBHOOK_RETRY_SCHEDULE: schedule.default(['1m', '5m', '30m', '2h', '12h'].map(parseDuration)),
  WEBHOOK_REQUEST_TIMEOUT: duration(1, 300_000).default(10_000),
  WEBHOOK_SHUTDOWN_TIMEOUT: duration(0, 600_000).default(15_000),
  WEBHOOK_POLL_INTERVAL: duration(10, 60_000).default(1_000),
  WEBHOOK_LEASE_MARGIN: duration(100, 600_000).default(30_000),
  WEBHOOK_SECRET_ROTATION_GRACE: duration(0, 7 * 86_400_000).default(86_400_000),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: privateTargets.default({ all: false, cidrs: [] }),
  WEBHOOK_SECRETS_KEY: secretsKey.optional(),
  WEBHOOK_SECRETS_KEY_PREVIOUS: secretsKey.optional(),
  WEBHOOK_RETENTION: duration(RETENTION_MS.min, RETENTION_MS.max).optional(),
  WORKER_CONCURRENCY: integer(1, 2000).default(64),
  WEBHOOK_DESTINATION_CONCURRENCY: integer(1, 1000).default(10),
  DATABASE_POOL_SIZE: integer(8, 200).default(10),
  DATABASE_QUERY_TIMEOUT: duration(100, 600_000).default(10_000),
  WEBHOOK_METRICS_PORT: integer(0, 65_535).optional(),
  WEBHOOK_METRICS_HOST: listenHost.default('127.0.0.1'),
  WEBHOOK_API_PORT: integer(0, 65_535).default(8787),
  WEBHOOK_API_HOST: listenHost.default('127.0.0.1'),
  WEBHOOK_PORTAL_URL: publicUrl.optional(),
  WEBHOOK_PORTAL_FRAME_ANCESTORS: frameAncestors.default([]),
})

/** Every environment variable the configuration reads (.env.example lists each one). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape)

export type Config = Readonly<{
  databaseUrl: string | undefined
  nodeEnv: 'development' | 'production' | 'test'
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Delay before each retry, measured from the previous failure; its length is the retry budget. */
  retrySchedule: readonly number[]
  requestTimeoutMs: number
  shutdownTimeoutMs: number
  pollIntervalMs: number
  /** A claimed delivery is leased for requestTimeoutMs + this; past the lease it counts as lost. */
  leaseMarginMs: number
  rotationGraceMs: number
  allowPrivateTargets: Readonly<{ all: boolean; cidrs: readonly string[] }>
  secretsKey: string | undefined
  secretsKeyPrevious: string | undefined
  /** Set: history that ended longer ago than this is pruned hourly. Unset: kept. */
  retentionMs: number | undefined
  concurrency: number
  /** Requests in flight per destination across all workers, unless its endpoint sets max_in_flight. */
  destinationConcurrency: number
  poolSize: number
  /** A worker's statement (or wait for a connection) that takes longer fails; its connection is dropped. */
  queryTimeoutMs: number
  /** Set: /metrics, /healthz and /readyz are served on this port (0: any free one). Unset: off. */
  metricsPort: number | undefined
  metricsHost: string
  /** Where `imtegrate-webhooks serve` serves the HTTP API (port 0: any free one). */
  apiPort: number
  apiHost: string
  /** The portal's public base URL (links start with it; its origin is the one forms must come from). */
  portalUrl: string | undefined
  /** Origins allowed to frame the portal; none: it may not be framed. */
  portalFrameAncestors: readonly string[]
}>

/**
 * Reads and validates the configuration; the only place that reads the environment.
 * An empty variable (`NAME=`) reads as unset, for every variable: the default applies, as with
 * the empty lines of .env.example. Throws a CONFIG_INVALID error with one line per bad variable,
 * each naming it: `invalid NAME: what is wrong`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  )
  const parsed = envSchema.safeParse(present)
  if (!parsed.success) {
    // Each parser adds at most one issue; the first per variable is kept all the same.
    const lines = new Map<string, string>()
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0])
      if (!lines.has(name)) {
        lines.set(name, `invalid ${name}: ${issue.message}`)
      }
    }
    throw new WebhookError('CONFIG_INVALID', [...lines.values()].join('\n'))
  }
  const e = parsed.data
  if (e.NODE_ENV === 'production' && e.WEBHOOK_SECRETS_KEY === undefined) {
    throw new WebhookError(
      'CONFIG_INVALID',
      'invalid WEBHOOK_SECRETS_KEY: is required when NODE_ENV=production (secrets are stored encrypted with it)',
    )
  }
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    retrySchedule: Object.freeze(e.WEBHOOK_RETRY_SCHEDULE),
    requestTimeoutMs: e.WEBHOOK_REQUEST_TIMEOUT,
    shutdownTimeoutMs: e.WEBHOOK_SHUTDOWN_TIMEOUT,
    pollIntervalMs: e.WEBHOOK_POLL_INTERVAL,
    leaseMarginMs: e.WEBHOOK_LEASE_MARGIN,
    rotationGraceMs: e.WEBHOOK_SECRET_ROTATION_GRACE,
    allowPrivateTargets: Object.freeze({
      all: e.WEBHOOK_ALLOW_PRIVATE_TARGETS.all,
      cidrs: Object.freeze(e.WEBHOOK_ALLOW_PRIVATE_TARGETS.cidrs),
    }),
    secretsKey: e.WEBHOOK_SECRETS_KEY,
    secretsKeyPrevious: e.WEBHOOK_SECRETS_KEY_PREVIOUS,
    retentionMs: e.WEBHOOK_RETENTION,
    concurrency: e.WORKER_CONCURRENCY,
    destinationConcurrency: e.WEBHOOK_DESTINATION_CONCURRENCY,
    poolSize: e.DATABASE_POOL_SIZE,
    queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT,
    metricsPort: e.WEBHOOK_METRICS_PORT,
    metricsHost: e.WEBHOOK_METRICS_HOST,
    apiPort: e.WEBHOOK_API_PORT,
    apiHost: e.WEBHOOK_API_HOST,
    portalUrl: e.WEBHOOK_PORTAL_URL,
    portalFrameAncestors: Object.freeze(e.WEBHOOK_PORTAL_FRAME_ANCESTORS),
  })
}
