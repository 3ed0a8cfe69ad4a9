import { z } from 'zod'
import { parseCidr } from './delivery/address-guard.ts'
import { parseDuration, parseDurationList } from './duration.ts'
import { WebhookError } from './errors.ts'

const duration = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    try {
      const ms = parseDuration(text)
      if (ms < min || ms > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min}ms and ${max}ms, got ${text}` })
        return z.NEVER
      }
      return ms
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
      return z.NEVER
    }
  })

const schedule = z.string().transform((text, ctx) => {
  try {
    const steps = parseDurationList(text)
    if (steps.length > 20 || steps.some((ms) => ms <= 0)) {
      ctx.addIssue({ code: 'custom', message: 'must list 1 to 20 positive durations, e.g. 1m,5m,30m,2h,12h' })
      return z.NEVER
    }
    return steps
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message })
    return z.NEVER
  }
})

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

const postgresUrl = z
  .string()
  .refine((text) => /^postgres(ql)?:\/\//.test(text) && URL.canParse(text), 'must be a postgres:// URL')

/** `true`/`false`, or a comma-separated list of CIDRs that are allowed although private. */
const privateTargets = z.string().transform((text, ctx) => {
  const value = text.trim().toLowerCase()
  if (value === 'true' || value === '1') {
    return { all: true, cidrs: [] as string[] }
  }
  if (value === 'false' || value === '0' || value === '') {
    return { all: false, cidrs: [] as string[] }
  }
  const cidrs = value.split(',').map((part) => part.trim())
  for (const cidr of cidrs) {
    try {
      parseCidr(cidr)
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `must be true, false or a list of CIDRs: ${(error as Error).message}`,
      })
      return z.NEVER
    }
  }
  return { all: false, cidrs }
})

const secretsKey = z
  .string()
  .refine((text) => Buffer.from(text, 'base64').length === 32, 'must be 32 bytes, base64-encoded')

/**
 * How much history a prune may keep, for the CLI's --older-than and WEBHOOK_RETENTION alike:
 * under an hour is almost certainly a typo (and would take what operators still replay); over a
 * century keeps everything anyway, and would overflow the date arithmetic.
 */
export const RETENTION_MS = { min: 3_600_000, max: 36_500 * 86_400_000 } as const

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  DATABASE_POOL_SIZE: integer(8, 200).default(10),
  DATABASE_QUERY_TIMEOUT: duration(100, 600_000).default(10_000),
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
  poolSize: number
  /** A worker's statement (or wait for a connection) that takes longer fails; its connection is dropped. */
  queryTimeoutMs: number
}>

/**
 * Reads and validates the configuration; the only place that reads the environment.
 * Throws a CONFIG_INVALID error whose message names every bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most .env tooling.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  )
  const parsed = envSchema.safeParse(present)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`)
    throw new WebhookError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  if (e.NODE_ENV === 'production' && e.WEBHOOK_SECRETS_KEY === undefined) {
    throw new WebhookError(
      'CONFIG_INVALID',
      'invalid configuration:\n  WEBHOOK_SECRETS_KEY: is required when NODE_ENV=production (secrets are stored encrypted with it)',
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
    poolSize: e.DATABASE_POOL_SIZE,
    queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT,
  })
}
