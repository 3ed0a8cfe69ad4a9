import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { useDeliveryStack } from '../helpers/stack.ts'
import { deliveryOf, giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

const CONCURRENCY = 4
const EVENTS = 20

const stack = useDeliveryStack({ WORKER_CONCURRENCY: String(CONCURRENCY) }, giveOrgASecret)

describe('a worker whose outcomes cannot be written', () => {
  it('stops sending once a window of them waits, and goes on once they are written', async () => {
    // Outcome rows are refused as a standby refuses writes (about the database, not a row); the
    // claims' own bookkeeping still works.
    await sql`create function public.refuse_outcomes() returns trigger language plpgsql as $$
      begin raise exception using errcode = '25006', message = 'outcomes refused by the test'; end $$`.execute(
      stack.testDb.db,
    )
    await sql`create trigger refuse_outcomes before insert on webhooks.attempts for each row
      when (new.outcome <> 'lost') execute function public.refuse_outcomes()`.execute(stack.testDb.db)
    stack.receiver.on('/window', () => ({ status: 200 }))
    const events: string[] = []
    for (let i = 0; i < EVENTS; i++) {
      events.push(await recordCompleted(stack.testDb, stack.receiver.url('/window')))
    }
    await vi.waitFor(() => expect(stack.arrivals('/window').length).toBeGreaterThanOrEqual(1), {
      timeout: 5_000,
    })
    // Regression: it went on claiming and sending everything due, none of it recordable. Now it
    // claims nothing while an outcome waits to be written (what was in flight then still finishes).
    await sleep(1_500)
    const sent = stack.arrivals('/window').length
    expect(sent).toBeLessThanOrEqual(CONCURRENCY)
    await sleep(1_000)
    expect(stack.arrivals('/window')).toHaveLength(sent)

    await sql`drop trigger refuse_outcomes on webhooks.attempts`.execute(stack.testDb.db)
    for (const eventId of events) {
      await vi.waitFor(
        async () => expect((await deliveryOf(stack.testDb, eventId)).status).toBe('delivered'),
        { timeout: 10_000 },
      )
    }
    expect(stack.arrivals('/window')).toHaveLength(EVENTS)
  })
})
