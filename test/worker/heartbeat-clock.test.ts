import { sql } from 'kysely'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { useDeliveryStack } from '../helpers/stack.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

const HOUR = 3_600_000

const stack = useDeliveryStack({}, giveOrgASecret)

afterEach(() => {
  vi.useRealTimers()
})

async function promiseAhead(): Promise<number | null> {
  const { rows } = await sql<{ ahead_ms: number | null }>`
    select extract(epoch from polling_until - clock_timestamp()) * 1000 as ahead_ms
    from webhooks.worker_pools where id = ${stack.worker.poolId}`.execute(stack.testDb.db)
  const ahead = rows[0]?.ahead_ms
  return ahead === null || ahead === undefined ? null : Number(ahead)
}

describe('the promise to poll that a hot dispatcher advertises', () => {
  it('is measured on the database clock, however wrong the worker clock is', async () => {
    const eventId = await recordCompleted(stack.testDb, stack.receiver.url('/hot'))
    await vi.waitFor(async () => expect((await deliveryOf(stack.testDb, eventId)).status).toBe('delivered'), {
      timeout: 10_000,
    })
    // The worker's clock jumps an hour ahead while it is hot (timers keep running).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + HOUR })
    stack.worker.dispatcher.kick()
    // Regression: the row said "polling until an hour from now", and recorders skipped NOTIFY
    // for an hour after the worker stopped polling.
    let seen = 0
    await vi.waitFor(
      async () => {
        const ahead = await promiseAhead()
        expect(ahead).not.toBeNull()
        seen = ahead ?? 0
      },
      { timeout: 5_000, interval: 100 },
    )
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    const later = await promiseAhead()
    expect(Math.max(seen, later ?? 0)).toBeLessThanOrEqual(2_500)
  })
})
