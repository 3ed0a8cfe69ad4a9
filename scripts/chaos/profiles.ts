/** How hard each mode pushes: `npm run chaos` (full), `-- --quick`, `-- --tiny` (the test's). */
export type Profile = {
  ratePerSecond: number
  damageMs: number
  firstKillMs: number
  killEveryMs: number
  kills: number
  restartAtMs: number
  drainMaxMs: number
}

export const PROFILES: Record<'full' | 'quick' | 'tiny', Profile> = {
  full: {
    ratePerSecond: 50,
    damageMs: 150_000,
    firstKillMs: 8_000,
    killEveryMs: 10_000,
    kills: 14,
    restartAtMs: 75_000,
    drainMaxMs: 180_000,
  },
  quick: {
    ratePerSecond: 30,
    damageMs: 45_000,
    firstKillMs: 4_000,
    killEveryMs: 6_000,
    kills: 6,
    restartAtMs: 21_000,
    drainMaxMs: 90_000,
  },
  tiny: {
    ratePerSecond: 10,
    damageMs: 6_000,
    firstKillMs: 2_000,
    killEveryMs: 1_000,
    kills: 1,
    restartAtMs: 4_000,
    drainMaxMs: 45_000,
  },
}

/** A worker is only killed once it has run this long, so it is busy with deliveries. */
export const MIN_AGE_BEFORE_KILL_MS = 2_000

export function workerEnv(databaseUrl: string, secretsKey: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    // Nine attempts over ~11 s. With the receiver's 15% failure mix a delivery drops only if all
    // nine fail: 0.15^9 ≈ 4e-8, so drops are implausible and any loss is a real one.
    WEBHOOK_RETRY_SCHEDULE: '200ms,500ms,1s,1s,2s,2s,2s,2s',
    WEBHOOK_REQUEST_TIMEOUT: '1s',
    WEBHOOK_SHUTDOWN_TIMEOUT: '2s',
    WEBHOOK_POLL_INTERVAL: '250ms',
    // A lease lasts the request timeout plus this margin: a killed worker's deliveries are
    // re-attempted ~3 s after their claim instead of ~31 s (the default margin is 30 s).
    WEBHOOK_LEASE_MARGIN: '2s',
    // Well under the margin, as .env.example advises: a write slower than this fails and is
    // retried rather than outlasting the lease.
    DATABASE_QUERY_TIMEOUT: '1s',
    WEBHOOK_SECRETS_KEY: secretsKey,
    LOG_LEVEL: 'warn',
  }
}
