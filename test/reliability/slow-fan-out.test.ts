import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { backlog, endpointAt } from '../helpers/load.ts'
import { startWorker, trigger, useScenes } from './poison.ts'

// Fanning out and claiming are two loops: a fan-out that takes long (a big batch, a slow trigger
// someone added, a lock it waits for) does not hold up the deliveries already queued.

const scene = useScenes()

describe('a fan-out that takes seconds', () => {
  it('does not hold up the deliveries already queued: they arrive while it runs', async () => {
    const s = await scene()
    await endpointAt(s.testDb, 'org_fast', s.receiver.url('/fast'))
    await endpointAt(s.testDb, 'org_slow', s.receiver.url('/slow'))
    await backlog(s.testDb, 'org_fast', 3)
    await sql`select webhooks.fan_out(100)`.execute(s.testDb.db)
    // org_slow's event takes 6 s to fan out: its delivery row waits in a trigger.
    await backlog(s.testDb, 'org_slow', 1)
    await trigger(
      s.testDb,
      'slow',
      'webhooks.deliveries',
      `new.org_id = 'org_slow'`,
      'begin perform pg_sleep(6); return new; end',
    )
    const started = Date.now()
    await startWorker(s.testDb)

    await vi.waitFor(() => expect(s.receiver.requests.filter((r) => r.path === '/fast')).toHaveLength(3), {
      timeout: 4_000,
      interval: 20,
    })
    // Still fanning out: the fast ones did not wait for it.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from webhooks.events where org_id = 'org_slow' and fanned_out_at is null`.execute(
      s.testDb.db,
    )
    expect(rows[0]?.n).toBe(1)
    expect(Date.now() - started).toBeLessThan(6_000)

    // And the slow one goes out once its fan-out is done.
    await vi.waitFor(() => expect(s.receiver.requests.filter((r) => r.path === '/slow')).toHaveLength(1), {
      timeout: 15_000,
      interval: 50,
    })
  }, 30_000)
})
