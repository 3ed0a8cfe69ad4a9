import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateSecret } from '../../src/delivery/sign.ts'
import { createLogger } from '../../src/logger.ts'
import { migrate, pendingMigrations } from '../../src/store/migrate.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { requestsPerDelivery, startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'

// An upgrade from the schema of migration 0012 (one deliveries row carried the schedule: status
// in_flight with lease_until, next_attempt_at) to today's (the delivery queue). A database at
// 0012 holds deliveries in every state, made as the 0012 worker made them; it is migrated while
// no worker runs, then a worker of today's code takes over. Every delivery goes on as before.

const logger = createLogger('silent')
/** How far ahead the retry and the lease of the old schema run. */
const AHEAD_MS = 3_000

type State = 'pending' | 'retrying' | 'inFlight' | 'expired' | 'dropped' | 'delivered'
const STATES: readonly State[] = ['pending', 'retrying', 'inFlight', 'expired', 'dropped', 'delivered']

let testDb: TestDb
let receiver: Receiver
let worker: WorkerHandle | undefined
const ids = new Map<State, string>()
/** When the old schema said the retry, and the live lease, were due. */
let retryDue: Date
let leaseEnd: Date

const id = (state: State): string => ids.get(state) ?? ''

/** One event per state to one endpoint, fanned out as the 0012 worker did (deliveries due now). */
async function seedAt0012(): Promise<void> {
  await sql`select webhooks.create_endpoint(org_id => 'org_1', url => ${receiver.url('/old')},
    secret => ${generateSecret()})`.execute(testDb.db)
  for (const state of STATES) {
    await sql`select webhooks.record_render_status(org_id => 'org_1', render_id => ${`img_${state}`},
      kind => 'image', status => 'completed')`.execute(testDb.db)
  }
  // The 0012 worker's fan-out statement.
  await sql`
    with batch as (
      select id, org_id, type from webhooks.events where fanned_out_at is null order by id for update skip locked
    ), inserted as (
      insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, next_attempt_at)
      select webhooks.new_id('dlv'), b.id, b.org_id, ep.id, ep.id, ep.url, now()
      from batch b join webhooks.endpoints ep on ep.org_id = b.org_id and ep.enabled and ep.deleted_at is null
      on conflict (event_id, destination) do nothing
    )
    update webhooks.events e set fanned_out_at = now() from batch where e.id = batch.id`.execute(testDb.db)
  const { rows } = await sql<{ id: string; subject_id: string }>`select d.id, e.subject_id
    from webhooks.deliveries d join webhooks.events e on e.id = d.event_id`.execute(testDb.db)
  for (const row of rows) {
    ids.set(row.subject_id.slice('img_'.length) as State, row.id)
  }
  // As the 0012 claim and outcome statements left them.
  const ahead = `${AHEAD_MS} milliseconds`
  await sql`update webhooks.deliveries set attempts = 2, failures = 2, last_status_code = 500,
      last_error = 'HTTP 500', next_attempt_at = now() + ${ahead}::interval
    where id = ${id('retrying')}`.execute(testDb.db)
  await sql`update webhooks.deliveries set status = 'in_flight', attempts = 1, next_attempt_at = null,
      lease_until = now() + ${ahead}::interval
    where id = ${id('inFlight')}`.execute(testDb.db)
  await sql`update webhooks.deliveries set status = 'in_flight', attempts = 1, next_attempt_at = null,
      lease_until = now() - interval '1 second'
    where id = ${id('expired')}`.execute(testDb.db)
  await sql`update webhooks.deliveries set status = 'dropped', attempts = 6, failures = 6, next_attempt_at = null,
      last_status_code = 500, last_error = 'HTTP 500', dropped_at = now()
    where id = ${id('dropped')}`.execute(testDb.db)
  await sql`update webhooks.deliveries set status = 'delivered', attempts = 1, next_attempt_at = null,
      last_status_code = 200, delivered_at = now()
    where id = ${id('delivered')}`.execute(testDb.db)
  await sql`
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, status_code, outcome, retry_at)
    select d.id, n, 0, d.org_id, d.endpoint_id, now() - interval '1 minute', 12,
      case when d.status = 'delivered' then 200 else 500 end,
      case when d.status = 'delivered' then 'delivered' when n = d.attempts and d.status = 'dropped' then 'dropped'
        else 'retrying' end,
      case when d.status = 'pending' and n < d.attempts then now() end
    from webhooks.deliveries d cross join generate_series(1, d.attempts) n
    where d.id = any(${[id('retrying'), id('dropped'), id('delivered')]}::text[])`.execute(testDb.db)
  const { rows: due } = await sql<{ retry: Date; lease: Date }>`select
      (select next_attempt_at from webhooks.deliveries where id = ${id('retrying')}) as retry,
      (select lease_until from webhooks.deliveries where id = ${id('inFlight')}) as lease`.execute(testDb.db)
  retryDue = due[0]?.retry ?? new Date(0)
  leaseEnd = due[0]?.lease ?? new Date(0)
}

beforeAll(async () => {
  testDb = await createTestDatabase({ empty: true })
  receiver = await startReceiver()
  await migrate(testDb.pool, logger, { upTo: 12 })
  await seedAt0012()
})

afterAll(async () => {
  await worker?.stop()
  await receiver?.close()
  await testDb?.drop()
})

async function historyOf(state: State): Promise<Array<[number, string, string | null]>> {
  const { rows } = await sql<{ attempt_no: number; outcome: string; error_code: string | null }>`
    select attempt_no, outcome, error_code from webhooks.attempts where delivery_id = ${id(state)}
    order by attempt_no`.execute(testDb.db)
  return rows.map((row) => [row.attempt_no, row.outcome, row.error_code])
}

async function statusOf(state: State): Promise<{ status: string; attempts: number; failures: number }> {
  const { rows } = await sql<{ status: string; attempts: number; failures: number }>`
    select status, attempts, failures from webhooks.delivery_state where delivery_id = ${id(state)}`.execute(
    testDb.db,
  )
  return rows[0] ?? { status: 'missing', attempts: -1, failures: -1 }
}

/** When the receiver first got `state`'s delivery. */
const firstSent = (state: State): number =>
  Math.min(
    ...receiver.requests.filter((r) => r.headers['x-imtegrate-delivery-id'] === id(state)).map((r) => r.at),
  )

describe('an upgrade from the schema of 0012, with deliveries in every state', () => {
  it('migrates to the latest schema', async () => {
    expect(await pendingMigrations(testDb.pool)).not.toEqual([])
    const applied = await migrate(testDb.pool, logger)
    expect(applied[0]).toBe('0013_fair_delivery.sql')
    expect(await pendingMigrations(testDb.pool)).toEqual([])
  })

  it('lets a worker of today deliver each once, keeping attempts, schedule and leases', async () => {
    // A request timeout that a loaded machine cannot run out: every answer here is a 200.
    worker = await startTestWorker(testDb, { WEBHOOK_REQUEST_TIMEOUT: '5s' })
    const live: State[] = ['pending', 'retrying', 'inFlight', 'expired']
    await vi.waitFor(
      async () => {
        for (const state of live) {
          expect((await statusOf(state)).status, state).toBe('delivered')
        }
      },
      { timeout: AHEAD_MS + 15_000, interval: 100 },
    )
    const sent = requestsPerDelivery(receiver.requests)
    expect(STATES.map((state) => [state, sent.get(id(state)) ?? 0])).toEqual([
      ['pending', 1],
      ['retrying', 1],
      ['inFlight', 1],
      ['expired', 1],
      ['dropped', 0],
      ['delivered', 0],
    ])
    // Its schedule kept: not before its retry was due; its attempt count and failures go on.
    expect(firstSent('retrying')).toBeGreaterThanOrEqual(retryDue.getTime())
    expect(await statusOf('retrying')).toEqual({ status: 'delivered', attempts: 3, failures: 2 })
    expect(await historyOf('retrying')).toEqual([
      [1, 'retrying', null],
      [2, 'retrying', null],
      [3, 'delivered', null],
    ])
    expect(await historyOf('pending')).toEqual([[1, 'delivered', null]])
    // A lease of the old schema is honoured: sent again only once it ran out, its attempt logged lost.
    expect(firstSent('inFlight')).toBeGreaterThanOrEqual(leaseEnd.getTime())
    for (const state of ['inFlight', 'expired'] as const) {
      expect(await historyOf(state)).toEqual([
        [1, 'lost', 'worker_lost'],
        [2, 'delivered', null],
      ])
    }
  })

  it('keeps a dropped delivery dropped and replayable, and a delivered one as it was', async () => {
    expect(await statusOf('dropped')).toEqual({ status: 'dropped', attempts: 6, failures: 6 })
    expect(await statusOf('delivered')).toEqual({ status: 'delivered', attempts: 1, failures: 0 })
    const { rows } = await sql<{
      delivery_id: string
    }>`select delivery_id from webhooks.dropped_deliveries`.execute(testDb.db)
    expect(rows.map((row) => row.delivery_id)).toEqual([id('dropped')])

    await sql`select * from webhooks.replay_deliveries(${[id('dropped')]}::text[], true)`.execute(testDb.db)
    await vi.waitFor(async () => expect((await statusOf('dropped')).status).toBe('delivered'), {
      timeout: 10_000,
      interval: 100,
    })
    expect((await historyOf('dropped')).at(-1)).toEqual([7, 'delivered', null])
    expect(requestsPerDelivery(receiver.requests).get(id('dropped'))).toBe(1)
  })
})
