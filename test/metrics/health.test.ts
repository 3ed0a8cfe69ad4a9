import { describe, expect, it } from 'vitest'
import type { LivenessFacts, ReadinessFacts } from '../../src/metrics/health.ts'
import { liveness, readiness } from '../../src/metrics/health.ts'
import { loopStaleAfterMs } from '../../src/metrics/monitor.ts'

const NOW = 1_000_000
const live: LivenessFacts = {
  loopAliveAt: NOW - 100,
  now: NOW,
  loopStaleAfterMs: 10_000,
  database: undefined,
}

describe('liveness (/healthz)', () => {
  it.each<[string, Partial<LivenessFacts>, boolean, Record<string, unknown>]>([
    ['a loop that went round lately and a database that answers', {}, true, {}],
    ['a loop that went round exactly at the bound', { loopAliveAt: NOW - 10_000 }, true, {}],
    [
      'a loop stuck past the bound',
      { loopAliveAt: NOW - 10_001 },
      false,
      { dispatcher: { ok: false, detail: 'the loop has not gone round for 10001 ms' } },
    ],
    [
      'a dispatcher not started yet',
      { loopAliveAt: undefined },
      false,
      { dispatcher: { ok: false, detail: 'not started' } },
    ],
    [
      'a database that does not answer',
      { database: 'no answer from PostgreSQL within 900 ms' },
      false,
      { database: { ok: false, detail: 'no answer from PostgreSQL within 900 ms' } },
    ],
  ])('%s: healthy %s', (_, change, ok, checks) => {
    const result = liveness({ ...live, ...change })
    expect(result.ok).toBe(ok)
    expect(result.checks).toMatchObject(checks)
  })

  it('allows the loop a poll interval and a pass of two statements at their deadline, plus a margin', () => {
    expect(loopStaleAfterMs(1_000, 10_000)).toBe(1_000 + 40_000 + 5_000)
  })
})

const ready: ReadinessFacts = {
  database: undefined,
  latestMigration: 9,
  requiredMigration: 9,
  poolRegistered: true,
  stopping: false,
}

describe('readiness (/readyz)', () => {
  it.each<[string, Partial<ReadinessFacts>, boolean, string[]]>([
    ['connected, migrated, registered', {}, true, []],
    ['a database migrated further by a newer version', { latestMigration: 10 }, true, []],
    ['migrations behind', { latestMigration: 8 }, false, ['migrations']],
    ['no migrations at all', { latestMigration: null }, false, ['migrations']],
    ['the pool not registered', { poolRegistered: false }, false, ['pool']],
    ['stopping', { stopping: true }, false, ['stopping']],
    ['no database', { database: 'connect ECONNREFUSED 127.0.0.1:5432' }, false, ['database']],
  ])('%s: ready %s', (_, change, ok, failing) => {
    const result = readiness({ ...ready, ...change })
    expect(result.ok).toBe(ok)
    const failed = Object.entries(result.checks).flatMap(([name, check]) => (check.ok ? [] : [name]))
    expect(failed).toEqual(failing)
  })

  it('says which migration is missing', () => {
    expect(readiness({ ...ready, latestMigration: null }).checks['migrations']).toEqual({
      ok: false,
      detail: 'migration 9 is needed, the database has none',
    })
  })
})
