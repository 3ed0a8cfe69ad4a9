import { describe, expect, it, vi } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { TestDb } from '../helpers/database.ts'
import { useDeliveryStack } from '../helpers/stack.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

// Under load the outcomes of finished requests wait to be written with the next claim, which
// comes once a quarter of the slots are free. Here that does not come: six of the eight slots
// hang and one answers in 5 s. The outcome of the one that answers at once is written by itself
// after a few milliseconds, not when the next claim comes.

const HANGING = ['org_h1', 'org_h2', 'org_h3', 'org_h4', 'org_h5', 'org_h6']

const stack = useDeliveryStack(
  { WORKER_CONCURRENCY: '8', WEBHOOK_REQUEST_TIMEOUT: '20s' },
  async (testDb: TestDb) => {
    for (const org of [...HANGING, 'org_slow', 'org_fast']) {
      await giveOrgASecret(testDb, org)
    }
  },
)

const render = (orgId: string, webhookUrl: string) => ({
  orgId,
  renderId: `img_linger_${orgId}`,
  kind: 'image' as const,
  status: 'completed' as const,
  webhookUrl,
})

describe('a finished request while no claim is coming', () => {
  it('has its outcome written within moments, not when a quarter of the slots free up', async () => {
    const { testDb, receiver } = stack
    receiver.on('/hang', () => 'hang')
    receiver.on('/slow', () => ({ status: 200, delayMs: 5_000 }))
    receiver.on('/fast', () => ({ status: 200 }))
    for (const org of HANGING) {
      await recordCompleted(testDb, receiver.url('/hang'), org)
    }
    await vi.waitFor(() => expect(stack.arrivals('/hang')).toHaveLength(HANGING.length), { timeout: 5_000 })
    // Both in one transaction: fanned out together, claimed together into the last two slots.
    const [slow, fast] = await testDb.db
      .transaction()
      .execute(async (trx) => [
        await recordRenderStatus(trx, render('org_slow', receiver.url('/slow'))),
        await recordRenderStatus(trx, render('org_fast', receiver.url('/fast'))),
      ])
    if (!slow || !fast) {
      throw new Error('no event recorded')
    }
    await vi.waitFor(() => expect(stack.arrivals('/fast')).toHaveLength(1), { timeout: 5_000 })
    // The fast one's answer frees one slot, fewer than the quarter (two) that brings a claim.
    const answered = Date.now()
    await vi.waitFor(async () => expect((await deliveryOf(testDb, fast)).status).toBe('delivered'), {
      timeout: 2_000,
      interval: 20,
    })
    expect(Date.now() - answered).toBeLessThan(2_000)
    // The slow request was still out: no claim came meanwhile to write it.
    expect((await deliveryOf(testDb, slow)).status).toBe('in_flight')
  })
})
