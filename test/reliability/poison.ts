import { sql } from 'kysely'
import { afterEach, expect } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { requestsPerDelivery, startReceiver } from '../helpers/receiver.ts'
import type { ChildWorker } from './child-worker.ts'
import { disposeChildren, spawnWorker, workerStarted } from './child-worker.ts'

// Rows a batched statement cannot write, made so by triggers in the test's database, and what a
// real worker process (its log read) does around them. See poisoned-outcome.test.ts and
// poisoned-intake.test.ts.

export const SCHEDULE = [100, 100, 100]
export const ATTEMPTS_ALLOWED = SCHEDULE.length + 1

export type Scene = { testDb: TestDb; receiver: Receiver }
/** A fresh database and receiver per test; each test's worker, receiver and database go after it. */
export function useScenes(): () => Promise<Scene> {
  const scenes: Scene[] = []
  afterEach(async () => {
    await disposeChildren()
    for (const { testDb, receiver } of scenes.splice(0)) {
      await receiver.close()
      await testDb.drop()
    }
  })
  return async () => {
    const made = { testDb: await createTestDatabase(), receiver: await startReceiver() }
    scenes.push(made)
    return made
  }
}

/** A lease far longer than the schedule: a retry that waits for it shows. */
export const LEASE_MARGIN_MS = 20_000

export async function startWorker(testDb: TestDb): Promise<ChildWorker> {
  const worker = spawnWorker(testDb, {
    WEBHOOK_RETRY_SCHEDULE: SCHEDULE.map((ms) => `${ms}ms`).join(','),
    WEBHOOK_LEASE_MARGIN: `${LEASE_MARGIN_MS}ms`,
    LOG_LEVEL: 'info',
  })
  await workerStarted(worker)
  return worker
}

/** The worker's log lines with message `msg`. */
export function logged(worker: ChildWorker, msg: string): Array<Record<string, unknown>> {
  return worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line['msg'] === msg)
}

/** Runs `body` (a PL/pgSQL block) before each row of `table` matching `when`. */
export async function trigger(
  testDb: TestDb,
  name: string,
  table: string,
  when: string,
  body: string,
): Promise<void> {
  await testDb.pool.query('create sequence if not exists public.refusals')
  await testDb.pool.query(
    `create function public.${name}() returns trigger language plpgsql as $$ ${body} $$`,
  )
  await testDb.pool.query(
    `create trigger ${name} before insert or update on ${table} for each row when (${when}) execute function public.${name}()`,
  )
}

export async function dropTrigger(testDb: TestDb, name: string, table: string): Promise<void> {
  await testDb.pool.query(`drop trigger ${name} on ${table}`)
}

export const REFUSE = `begin
  perform nextval('public.refusals');
  raise exception using errcode = 'P0001', message = 'refused by the test';
end`

export async function stateOf(testDb: TestDb, deliveryId: string) {
  const { rows } = await sql<{
    status: string
    attempts: number
    failures: number
    last_error: string | null
    /** Due at no time: held for an operator. */
    held: boolean
    queued: boolean
    leased: boolean
  }>`
    select s.status, s.attempts, s.failures, s.last_error, coalesce(s.next_attempt_at = 'infinity', false) as held,
      q.delivery_id is not null as queued, coalesce(q.leased, false) as leased
    from webhooks.delivery_state s left join webhooks.delivery_queue q on q.delivery_id = s.delivery_id
    where s.delivery_id = ${deliveryId}`.execute(testDb.db)
  const row = rows[0]
  if (row === undefined) {
    throw new Error(`no delivery ${deliveryId}`)
  }
  return row
}

/** Every delivery but `except` was sent once, answered 200 and is recorded delivered, with one attempt row. */
export async function othersDeliveredOnce(
  testDb: TestDb,
  receiver: Receiver,
  except: string,
): Promise<number> {
  const sent = requestsPerDelivery(receiver.requests)
  const { rows } = await sql<{ id: string; status: string; attempts: string[] }>`
    select d.id, d.status, coalesce(array_agg(a.outcome order by a.attempt_no) filter (where a.outcome is not null),
      '{}') as attempts
    from webhooks.deliveries d left join webhooks.attempts a on a.delivery_id = d.id
    where d.id <> ${except} group by d.id`.execute(testDb.db)
  for (const row of rows) {
    expect({ id: row.id, status: row.status, attempts: row.attempts, sent: sent.get(row.id) }).toEqual({
      id: row.id,
      status: 'delivered',
      attempts: ['delivered'],
      sent: 1,
    })
  }
  return rows.length
}

export async function refusals(testDb: TestDb): Promise<number> {
  const { rows } = await sql<{ n: string }>`select last_value::text as n from public.refusals`.execute(
    testDb.db,
  )
  return Number(rows[0]?.n ?? 0)
}
