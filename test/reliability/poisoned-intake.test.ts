import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { backlog, endpointAt, fannedOut } from '../helpers/load.ts'
import { requestsPerDelivery } from '../helpers/receiver.ts'
import {
  dropTrigger,
  logged,
  othersDeliveredOnce,
  REFUSE,
  startWorker,
  stateOf,
  trigger,
  useScenes,
} from './poison.ts'

// An event that cannot be fanned out, a destination whose leases cannot be taken (a trigger
// someone added refuses them): the batched fan-out and claim are split until that row is found,
// the rest goes on, and that one is set aside with its error, logged once.

const scene = useScenes()

describe('an event that a trigger keeps from being fanned out', () => {
  it('is set aside with its error while the events around it are delivered, and goes out once put back', async () => {
    const s = await scene()
    await endpointAt(s.testDb, 'org_1', s.receiver.url('/events'))
    await backlog(s.testDb, 'org_1', 9)
    const { rows } = await sql<{ id: string }>`select id from webhooks.events order by id`.execute(
      s.testDb.db,
    )
    const chosen = rows[4]?.id ?? ''
    await trigger(s.testDb, 'refuse', 'webhooks.deliveries', `new.event_id = '${chosen}'`, REFUSE)
    const worker = await startWorker(s.testDb)

    await vi.waitFor(
      async () => {
        const { rows: delivered } = await sql<{
          n: number
        }>`select count(*)::int as n from webhooks.deliveries
          where status = 'delivered'`.execute(s.testDb.db)
        expect(delivered[0]?.n).toBe(8)
      },
      { timeout: 15_000, interval: 100 },
    )
    expect(await othersDeliveredOnce(s.testDb, s.receiver, '')).toBe(8)
    const { rows: events } = await sql<{
      fanned_out_at: Date | null
      fan_out_error: string | null
      n: number
    }>`
      select e.fanned_out_at, e.fan_out_error, (select count(*)::int from webhooks.deliveries d where d.event_id = e.id) as n
      from webhooks.events e where e.id = ${chosen}`.execute(s.testDb.db)
    expect(events[0]).toMatchObject({ n: 0, fan_out_error: expect.stringMatching(/refused by the test/) })
    expect(events[0]?.fanned_out_at).not.toBeNull()
    expect(
      logged(worker, 'could not fan out this event; it is set aside').map((line) => line['eventId']),
    ).toEqual([chosen])

    await dropTrigger(s.testDb, 'refuse', 'webhooks.deliveries')
    await sql`update webhooks.events set fanned_out_at = null, fan_out_error = null where id = ${chosen}`.execute(
      s.testDb.db,
    )
    await vi.waitFor(async () => expect(await othersDeliveredOnce(s.testDb, s.receiver, '')).toBe(9), {
      timeout: 10_000,
      interval: 100,
    })
  }, 60_000)
})

describe('a destination whose lease a trigger refuses', () => {
  it('is set aside with its error while the other destinations are served', async () => {
    const s = await scene()
    const endpoints: string[] = []
    for (let i = 0; i < 6; i++) {
      endpoints.push(await endpointAt(s.testDb, 'org_1', s.receiver.url(`/dest-${i}`)))
    }
    const chosenEndpoint = endpoints[2] ?? ''
    await backlog(s.testDb, 'org_1', 3)
    // Taking a lease of the chosen endpoint's deliveries is refused: every claim that reaches it fails.
    await trigger(
      s.testDb,
      'refuse',
      'webhooks.delivery_queue',
      'new.leased',
      `begin
        if new.destination_id = (select d.id from webhooks.destinations d where d.endpoint_id = '${chosenEndpoint}') then
          raise exception using errcode = 'P0001', message = 'refused by the test';
        end if;
        return new;
      end`,
    )
    const worker = await startWorker(s.testDb)
    await fannedOut(s.testDb)
    const { rows: chosenRows } = await sql<{ id: string }>`select id from webhooks.deliveries
      where endpoint_id = ${chosenEndpoint}`.execute(s.testDb.db)
    const chosen = chosenRows.map((row) => row.id)
    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
          where status = 'delivered'`.execute(s.testDb.db)
        expect(rows[0]?.n).toBe(15)
      },
      { timeout: 15_000, interval: 100 },
    )
    const sent = requestsPerDelivery(s.receiver.requests)
    expect(chosen.map((id) => sent.get(id))).toEqual([undefined, undefined, undefined])
    const { rows: dest } = await sql<{ last_error: string | null; set_aside_for: number }>`
      select last_error, extract(epoch from ready_at - now())::float8 as set_aside_for
      from webhooks.destinations where endpoint_id = ${chosenEndpoint}`.execute(s.testDb.db)
    expect(dest[0]?.last_error).toMatch(/refused by the test/)
    expect(dest[0]?.set_aside_for).toBeGreaterThan(30)
    const setAside = logged(worker, 'could not claim the deliveries of this destination; it is set aside')
    expect(setAside).toHaveLength(1)
    for (const id of chosen) {
      expect(await stateOf(s.testDb, id)).toMatchObject({ status: 'pending', attempts: 0, leased: false })
    }

    // Once the cause is gone and its turn comes again, its deliveries go out, once each.
    await dropTrigger(s.testDb, 'refuse', 'webhooks.delivery_queue')
    await sql`update webhooks.destinations set ready_at = now() where endpoint_id = ${chosenEndpoint}`.execute(
      s.testDb.db,
    )
    await vi.waitFor(async () => expect(await othersDeliveredOnce(s.testDb, s.receiver, '')).toBe(18), {
      timeout: 10_000,
      interval: 100,
    })
  }, 60_000)
})
