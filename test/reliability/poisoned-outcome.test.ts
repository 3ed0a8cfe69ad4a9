import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { backlog, endpointAt, fannedOut } from '../helpers/load.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { requestsPerDelivery } from '../helpers/receiver.ts'
import type { Scene } from './poison.ts'
import {
  ATTEMPTS_ALLOWED,
  dropTrigger,
  LEASE_MARGIN_MS,
  logged,
  othersDeliveredOnce,
  REFUSE,
  refusals,
  startWorker,
  stateOf,
  trigger,
  useScenes,
} from './poison.ts'

// One outcome that a batched write cannot record (a trigger someone added refuses it) must not
// make the rest of its batch fail with it: the batch is split until that row is found, the others
// are written, and that one is held aside, logged once per attempt, neither re-sent in a loop nor lost.

const BATCH_MATES = 12
const scene = useScenes()

/**
 * One event to a pacer endpoint and to BATCH_MATES others, `chosen` among them. The pacer is
 * answered at once and its outcome's write takes 1.5 s; the others are answered 0.5 s after
 * they arrive, so their outcomes wait together and are written as one batch, the chosen one's
 * with them. Returns the endpoints' ids.
 */
async function batchOfOutcomes({ testDb, receiver }: Scene): Promise<{ pacer: string; mates: string[] }> {
  const pacer = await endpointAt(testDb, 'org_1', receiver.url('/pacer'))
  const mates: string[] = []
  for (let i = 0; i < BATCH_MATES; i++) {
    mates.push(await endpointAt(testDb, 'org_1', receiver.url(`/mate-${i}`)))
    receiver.on(`/mate-${i}`, () => ({ status: 200, delayMs: 500 }))
  }
  await trigger(
    testDb,
    'pace',
    'webhooks.attempts',
    `new.endpoint_id = '${pacer}'`,
    'begin perform pg_sleep(1.5); return new; end',
  )
  await backlog(testDb, 'org_1', 1)
  return { pacer, mates }
}

/** Once the event is fanned out: each endpoint's delivery. */
async function deliveriesByEndpoint(testDb: TestDb): Promise<Map<string, string>> {
  await fannedOut(testDb)
  const { rows } = await sql<{ endpoint_id: string; id: string }>`
    select endpoint_id, id from webhooks.deliveries`.execute(testDb.db)
  return new Map(rows.map((row) => [row.endpoint_id, row.id]))
}

/** When the receiver got each request of `deliveryId`, in ms after the first. */
function sentAt(receiver: Receiver, deliveryId: string): number[] {
  const times = receiver.requests
    .filter((r) => r.headers['x-imtegrate-delivery-id'] === deliveryId)
    .map((r) => r.at)
  return times.map((at) => at - (times[0] ?? at))
}

describe('an outcome that a trigger refuses, in a batch of outcomes', () => {
  it('lets the rest of its batch be recorded once, and is retried on schedule, then dropped with its error', async () => {
    const s = await scene()
    const { mates } = await batchOfOutcomes(s)
    const chosenEndpoint = mates[5] ?? ''
    await trigger(s.testDb, 'refuse', 'webhooks.attempts', `new.endpoint_id = '${chosenEndpoint}'`, REFUSE)
    const worker = await startWorker(s.testDb)
    const chosen = (await deliveriesByEndpoint(s.testDb)).get(chosenEndpoint) ?? ''

    await vi.waitFor(async () => expect((await stateOf(s.testDb, chosen)).status).toBe('dropped'), {
      timeout: 20_000,
      interval: 100,
    })
    expect(await othersDeliveredOnce(s.testDb, s.receiver, chosen)).toBe(BATCH_MATES)
    // Dropped, its queue row gone: nothing can send it again. It was sent as often as the
    // schedule allows, no more (regression: a failed batch was re-sent whole at every lease expiry).
    expect(requestsPerDelivery(s.receiver.requests).get(chosen)).toBe(ATTEMPTS_ALLOWED)
    // On its schedule (100 ms apart), not a lease apart (regression: its destination slept until
    // the lease of the held attempt would have run out, and every retry waited that long).
    expect(sentAt(s.receiver, chosen).at(-1)).toBeLessThan(LEASE_MARGIN_MS / 4)
    // Regression: the dropped delivery showed 0 attempts, and a replay numbered its attempts from 1 again.
    const state = await stateOf(s.testDb, chosen)
    expect(state).toMatchObject({ attempts: ATTEMPTS_ALLOWED, failures: ATTEMPTS_ALLOWED, queued: false })
    expect(state.last_error).toMatch(/^outcome_unrecorded: .*refused by the test/)
    const { rows: dropped } = await sql<{
      n: number
    }>`select count(*)::int as n from webhooks.dropped_deliveries
      where delivery_id = ${chosen}`.execute(s.testDb.db)
    expect(dropped[0]?.n).toBe(1)
    // The first write of its outcome held the whole batch; each split half that held it failed too.
    expect(await refusals(s.testDb)).toBeGreaterThan(ATTEMPTS_ALLOWED)

    // Logged once per attempt, with its delivery id; nothing else was logged as unrecordable.
    const held = logged(worker, 'could not record this attempt; its delivery is held aside')
    expect(held.map((line) => [line['deliveryId'], line['attempt'], line['held']])).toEqual([
      [chosen, 1, 'retrying'],
      [chosen, 2, 'retrying'],
      [chosen, 3, 'retrying'],
      [chosen, 4, 'dropped'],
    ])
    expect(logged(worker, 'could not record attempts; retrying')).toEqual([])

    // Replayable once the cause is gone: its next attempt is numbered after the four made.
    await dropTrigger(s.testDb, 'refuse', 'webhooks.attempts')
    await sql`select * from webhooks.replay_deliveries(${[chosen]}::text[], true)`.execute(s.testDb.db)
    await vi.waitFor(async () => expect((await stateOf(s.testDb, chosen)).status).toBe('delivered'), {
      timeout: 10_000,
      interval: 100,
    })
    const { rows: history } = await sql<{ attempt_no: number; outcome: string }>`select attempt_no, outcome
      from webhooks.attempts where delivery_id = ${chosen}`.execute(s.testDb.db)
    expect(history).toEqual([{ attempt_no: ATTEMPTS_ALLOWED + 1, outcome: 'delivered' }])
  }, 60_000)

  it('is held for an operator when even dropping its delivery is refused, and never sent again by itself', async () => {
    const s = await scene()
    const { mates } = await batchOfOutcomes(s)
    const chosenEndpoint = mates[0] ?? ''
    // Its delivery can be neither delivered nor dropped: the settling update is refused.
    await trigger(
      s.testDb,
      'refuse',
      'webhooks.deliveries',
      `new.endpoint_id = '${chosenEndpoint}' and new.status <> 'pending'`,
      REFUSE,
    )
    const worker = await startWorker(s.testDb)
    const chosen = (await deliveriesByEndpoint(s.testDb)).get(chosenEndpoint) ?? ''

    await vi.waitFor(async () => expect((await stateOf(s.testDb, chosen)).held).toBe(true), {
      timeout: 20_000,
      interval: 100,
    })
    expect(await othersDeliveredOnce(s.testDb, s.receiver, chosen)).toBe(BATCH_MATES)
    const state = await stateOf(s.testDb, chosen)
    expect(state).toMatchObject({
      status: 'pending',
      attempts: ATTEMPTS_ALLOWED,
      queued: true,
      leased: false,
    })
    expect(state.last_error).toMatch(/^outcome_unrecorded: .*refused by the test/)
    expect(requestsPerDelivery(s.receiver.requests).get(chosen)).toBe(ATTEMPTS_ALLOWED)
    expect(sentAt(s.receiver, chosen).at(-1)).toBeLessThan(LEASE_MARGIN_MS / 4)
    expect(
      logged(worker, 'could not record this attempt; its delivery is held aside').map((l) => l['held']),
    ).toEqual(['retrying', 'retrying', 'retrying', 'held'])

    // An operator who removed the cause replays it: it goes out once more, with its id.
    await dropTrigger(s.testDb, 'refuse', 'webhooks.deliveries')
    await sql`update webhooks.delivery_queue set due_at = now(), failures = 0 where delivery_id = ${chosen}`.execute(
      s.testDb.db,
    )
    await sql`update webhooks.destinations set ready_at = now()
      where id = (select destination_id from webhooks.delivery_queue where delivery_id = ${chosen})`.execute(
      s.testDb.db,
    )
    await vi.waitFor(async () => expect((await stateOf(s.testDb, chosen)).status).toBe('delivered'), {
      timeout: 10_000,
      interval: 100,
    })
    expect(requestsPerDelivery(s.receiver.requests).get(chosen)).toBe(ATTEMPTS_ALLOWED + 1)
  }, 60_000)
})
