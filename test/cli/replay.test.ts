import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'

// A dropped delivery, replayed by each selector, reaches a real receiver again under its own id.

let testDb: TestDb
let receiver: Receiver
let worker: WorkerHandle
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`
/** Paths that answer 200; every other path answers 500, so its deliveries end up dropped. */
const healthy = new Set<string>()

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  for (const path of ['/delivery', '/event-render', '/event-ep', '/endpoint', '/org']) {
    receiver.on(path, () => (healthy.has(path) ? { status: 200 } : { status: 500 }))
  }
  await testDb.db
    .insertInto('webhooks.org_secrets')
    .values(['org_d', 'org_e'].map((org_id) => ({ org_id, secret: SECRET })))
    .execute()
  // The endpoints CLI is someone else's: these rows are what it would write.
  await testDb.db
    .insertInto('webhooks.endpoints')
    .values([
      { id: 'ep_event', org_id: 'org_e', url: receiver.url('/event-ep'), secret: SECRET },
      { id: 'ep_endpoint', org_id: 'org_x', url: receiver.url('/endpoint'), secret: SECRET },
      { id: 'ep_org', org_id: 'org_o', url: receiver.url('/org'), secret: SECRET },
    ])
    .execute()
  worker = await startTestWorker(testDb)
})

afterAll(async () => {
  await worker?.stop()
  await receiver?.close()
  await testDb?.drop()
})

let renderSeq = 0
async function record(orgId: string, webhookPath?: string): Promise<string> {
  const eventId = await testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId,
      renderId: `img_r${++renderSeq}`,
      kind: 'image',
      status: 'completed',
      webhookUrl: webhookPath === undefined ? null : receiver.url(webhookPath),
    }),
  )
  return eventId as string
}

const deliveriesOf = (eventId: string) =>
  testDb.db
    .selectFrom('webhooks.deliveries')
    .selectAll()
    .where('event_id', '=', eventId)
    .orderBy('id')
    .execute()

async function droppedDeliveriesOf(eventId: string, count: number) {
  await vi.waitFor(
    async () => {
      const rows = await deliveriesOf(eventId)
      expect(rows.map((d) => d.status)).toEqual(Array(count).fill('dropped'))
    },
    { timeout: 10_000 },
  )
  return deliveriesOf(eventId)
}

async function deliveredAgain(deliveryId: string) {
  await vi.waitFor(
    async () => {
      const d = await testDb.db
        .selectFrom('webhooks.deliveries')
        .selectAll()
        .where('id', '=', deliveryId)
        .executeTakeFirstOrThrow()
      expect(d.status).toBe('delivered')
    },
    { timeout: 10_000 },
  )
  const requests = receiver.requests.filter((r) => r.headers['x-imtegrate-delivery-id'] === deliveryId)
  const { rows } = await sql<{ attempt_no: number; replay: number; outcome: string }>`
    select attempt as attempt_no, replay, outcome from webhooks.delivery_history
    where delivery_id = ${deliveryId} order by attempt`.execute(testDb.db)
  return { requests, attempts: rows }
}

/** One attempt plus three retries fail, then the replay's first attempt succeeds. */
function expectReplayedOnce(outcome: Awaited<ReturnType<typeof deliveredAgain>>) {
  expect(outcome.requests.map((r) => r.headers['x-imtegrate-attempt'])).toEqual(['1', '2', '3', '4', '5'])
  expect(outcome.attempts.map((a) => [a.attempt_no, a.replay, a.outcome])).toEqual([
    [1, 0, 'retrying'],
    [2, 0, 'retrying'],
    [3, 0, 'retrying'],
    [4, 0, 'dropped'],
    [5, 1, 'delivered'],
  ])
}

describe('replay', () => {
  it('--delivery sends a dropped delivery again with the same delivery id', async () => {
    const [dropped] = await droppedDeliveriesOf(await record('org_d', '/delivery'), 1)
    const id = dropped?.id as string
    healthy.add('/delivery')
    const result = await runCli(testDb, ['replay', '--delivery', id])
    expect(result).toMatchObject({ code: 0, out: 'replayed 1 of 1 matched deliveries' })
    expectReplayedOnce(await deliveredAgain(id))
  })

  it('--event sends every delivery of the event again', async () => {
    const dropped = await droppedDeliveriesOf(await record('org_e', '/event-render'), 2)
    expect(dropped.map((d) => d.destination).sort()).toEqual(['ep_event', 'render_url'])
    healthy.add('/event-render').add('/event-ep')
    const summary = await runCliJson(testDb, ['replay', '--event', dropped[0]?.event_id as string])
    expect(summary).toEqual({
      matched: 2,
      replayed: 2,
      skipped: 0,
      skipped_by: { in_progress: 0, destination_inactive: 0 },
    })
    for (const d of dropped) {
      expectReplayedOnce(await deliveredAgain(d.id))
    }
  })

  it('--endpoint --status dropped sends the endpoint’s dropped deliveries again', async () => {
    const first = await droppedDeliveriesOf(await record('org_x'), 1)
    const second = await droppedDeliveriesOf(await record('org_x'), 1)
    healthy.add('/endpoint')
    const result = await runCli(testDb, ['replay', '--endpoint', 'ep_endpoint', '--status', 'dropped'])
    expect(result).toMatchObject({ code: 0, out: 'replayed 2 of 2 matched deliveries' })
    for (const d of [...first, ...second]) {
      expectReplayedOnce(await deliveredAgain(d.id))
    }
  })

  it('--org --status dropped with --since and --until sends only the deliveries made in that range', async () => {
    const [early] = await droppedDeliveriesOf(await record('org_o'), 1)
    const [late] = await droppedDeliveriesOf(await record('org_o'), 1)
    if (!early || !late) {
      throw new Error('no deliveries')
    }
    healthy.add('/org')
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString()
    const lateOnly = ['--since', late.created_at.toISOString(), '--until', tomorrow]
    const summary = await runCliJson(testDb, ['replay', '--org', 'org_o', '--status', 'dropped', ...lateOnly])
    expect(summary).toMatchObject({ matched: 1, replayed: 1, skipped: 0 })
    expectReplayedOnce(await deliveredAgain(late.id))
    expect((await deliveriesOf(early.event_id))[0]?.status).toBe('dropped')

    const earlyOnly = ['--since', '1h', '--until', late.created_at.toISOString()]
    const again = await runCliJson(testDb, ['replay', '--org', 'org_o', '--status', 'dropped', ...earlyOnly])
    expect(again).toMatchObject({ matched: 1, replayed: 1, skipped: 0 })
    expectReplayedOnce(await deliveredAgain(early.id))
  })
})
