import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { describe, expect, it, vi } from 'vitest'
import { useDeliveryStack } from '../helpers/stack.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

// A slow poll: an event that no one is polling for waits this long.
const stack = useDeliveryStack({ WEBHOOK_POLL_INTERVAL: '10s' }, giveOrgASecret)

const delivered = (eventId: string) =>
  vi.waitFor(async () => expect((await deliveryOf(stack.testDb, eventId)).status).toBe('delivered'), {
    timeout: 15_000,
    interval: 5,
  })

describe('a heartbeat whose write is held up', () => {
  it('keeps the dispatcher polling for as long as the promise it finally wrote', async () => {
    await delivered(await recordCompleted(stack.testDb, stack.receiver.url('/first')))
    // The dispatcher is hot; its next beat waits 3.6 s on a row lock (any slow statement).
    const locker = new pg.Client({ connectionString: stack.testDb.url })
    await locker.connect()
    try {
      await locker.query('begin')
      await locker.query('select 1 from webhooks.worker_pools where id = $1 for update', [
        stack.worker.poolId,
      ])
      await sleep(3_600)
      await locker.query('commit')
    } finally {
      await locker.end()
    }
    await sleep(100)
    // Regression: the row promised polling for two more seconds, recorders skipped NOTIFY, but
    // the dispatcher had cooled down already: the event waited for the 10 s poll.
    const recordedAt = Date.now()
    await delivered(await recordCompleted(stack.testDb, stack.receiver.url('/second')))
    expect(Date.now() - recordedAt).toBeLessThan(1_000)
  })
})
