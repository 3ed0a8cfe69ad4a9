import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { backlog, endpointAt } from '../helpers/load.ts'
import { scrape } from '../helpers/metrics.ts'
import { useDeliveryStack } from '../helpers/stack.ts'
import { REFUSE, trigger } from '../reliability/poison.ts'

// What batched writes set aside for an operator, counted: an event that cannot be fanned out, a
// destination whose leases cannot be taken, a delivery whose outcome (and then its drop) cannot
// be written. Triggers in the test's database refuse each one (see test/reliability/poison.ts).

const ids = { chosenEvent: '', held: '', blocked: '' }

async function seed(testDb: TestDb): Promise<void> {
  await endpointAt(testDb, 'org_1', stack.receiver.url('/fine'))
  ids.held = await endpointAt(testDb, 'org_1', stack.receiver.url('/held'))
  ids.blocked = await endpointAt(testDb, 'org_1', stack.receiver.url('/blocked'))
  await backlog(testDb, 'org_1', 3)
  const { rows } = await sql<{ id: string }>`select id from webhooks.events order by id`.execute(testDb.db)
  ids.chosenEvent = rows[1]?.id ?? ''
  // The chosen event cannot be fanned out: every delivery it would make is refused.
  await trigger(testDb, 'refuse_event', 'webhooks.deliveries', `new.event_id = '${ids.chosenEvent}'`, REFUSE)
  // The held endpoint's deliveries can be neither delivered nor dropped: each outcome is set
  // aside, and the last one cannot even drop its delivery, which is then held for an operator.
  await trigger(
    testDb,
    'refuse_settle',
    'webhooks.deliveries',
    `new.endpoint_id = '${ids.held}' and new.status <> 'pending'`,
    REFUSE,
  )
  // The blocked endpoint's leases cannot be taken: its destination is set aside.
  await trigger(
    testDb,
    'refuse_lease',
    'webhooks.delivery_queue',
    'new.leased',
    `begin
      if new.destination_id = (select d.id from webhooks.destinations d where d.endpoint_id = '${ids.blocked}') then
        raise exception using errcode = 'P0001', message = 'refused by the test';
      end if;
      return new;
    end`,
  )
}

const stack = useDeliveryStack({ WEBHOOK_METRICS_PORT: '0' }, seed)

const url = () => {
  const found = stack.worker.monitorUrl
  if (found === undefined) {
    throw new Error('the worker serves no metrics')
  }
  return found
}

describe('rows set aside for an operator', () => {
  it('are counted as they are set aside, by kind, and shown in the backlog as what is set aside now', async () => {
    // Two events are fanned out, each to the three endpoints: the held endpoint's two deliveries
    // are answered 200 four times each (an attempt and three retries), each outcome set aside.
    const expected = {
      'imtegrate_webhooks_rows_set_aside_total{kind="event"}': 1,
      'imtegrate_webhooks_rows_set_aside_total{kind="outcome"}': 8,
      imtegrate_webhooks_deliveries_set_aside: 2,
      imtegrate_webhooks_events_set_aside: 1,
      imtegrate_webhooks_destinations_set_aside: 1,
      imtegrate_webhooks_deliveries_awaiting_retry: 0,
      // A claim that reaches the blocked destination sets it aside for a minute.
      'imtegrate_webhooks_rows_set_aside_total{kind="destination"}': 1,
    }
    await vi.waitFor(
      async () => {
        const { samples } = await scrape(url())
        expect(Object.fromEntries(Object.keys(expected).map((key) => [key, samples.get(key)]))).toEqual(
          expected,
        )
      },
      { timeout: 30_000, interval: 250 },
    )
    const { rows } = await sql<{ held: number }>`select count(*)::int as held from webhooks.delivery_state
      where endpoint_id = ${ids.held} and next_attempt_at = 'infinity'`.execute(stack.testDb.db)
    expect(rows[0]?.held).toBe(2)
  }, 60_000)
})
