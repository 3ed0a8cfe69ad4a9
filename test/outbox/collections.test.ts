import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { sqlState } from '../../src/errors.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await testDb?.drop()
})

async function openCollection(orgId: string, collectionId: string, childCount: number, webhookUrl?: string) {
  await sql`select webhooks.open_collection(org_id => ${orgId}, collection_id => ${collectionId},
    child_count => ${childCount}, template_id => 'tpl_col', webhook_url => ${webhookUrl ?? null})`.execute(
    testDb.db,
  )
}

async function collectionEvents(collectionId: string) {
  return testDb.db
    .selectFrom('webhooks.events')
    .select(['id', 'type', 'data'])
    .where('subject_id', '=', collectionId)
    .where('type', '=', 'collection.completed')
    .execute()
}

/** Every 5th child fails; the others complete. */
const statusOf = (child: number) => (child % 5 === 0 ? 'failed' : 'completed')

/**
 * Runs `transactions` on `clients` separate connections at once; each transaction records the
 * terminal status of the child its function picks, so children of one collection race on it.
 */
async function raceChildren(
  collectionId: string,
  clients: number,
  pickChildren: (client: number) => number[],
): Promise<void> {
  const connections = Array.from({ length: clients }, () => new pg.Client({ connectionString: testDb.url }))
  await Promise.all(connections.map((c) => c.connect()))
  try {
    await Promise.all(
      connections.map(async (client, i) => {
        for (const child of pickChildren(i)) {
          await client.query('begin')
          await recordRenderStatus(client, {
            orgId: 'org_col',
            renderId: `${collectionId}_child_${child}`,
            kind: 'image',
            status: statusOf(child),
            collectionId,
          })
          await client.query('commit')
        }
      }),
    )
  } finally {
    await Promise.all(connections.map((c) => c.end()))
  }
}

describe('a collection of 50 children finishing in 50 concurrent transactions', () => {
  it('emits exactly one collection.completed with the right counts', async () => {
    await openCollection('org_col', 'col_50', 50)
    await raceChildren('col_50', 50, (i) => [i])
    const events = await collectionEvents('col_50')
    expect(events).toEqual([
      {
        id: expect.stringMatching(/^evt_/),
        type: 'collection.completed',
        data: {
          id: 'col_50',
          status: 'completed',
          template_id: 'tpl_col',
          children: { total: 50, completed: 40, failed: 10 },
        },
      },
    ])
    const collection = await sql<{ event_id: string; completed_at: Date | null }>`
      select event_id, completed_at from webhooks.collections where id = 'col_50'`.execute(testDb.db)
    expect(collection.rows[0]?.event_id).toBe(events[0]?.id)
    expect(collection.rows[0]?.completed_at).not.toBeNull()
  })

  it('counts each child once when every child reports twice, concurrently', async () => {
    await openCollection('org_col', 'col_twice', 50)
    // Client i reports child i, then child i+1 (which client i+1 reports too).
    await raceChildren('col_twice', 50, (i) => [i, (i + 1) % 50])
    const events = await collectionEvents('col_twice')
    expect(events).toHaveLength(1)
    expect(events[0]?.data).toMatchObject({ children: { total: 50, completed: 40, failed: 10 } })
    const children = await testDb.db
      .selectFrom('webhooks.events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('subject_id', 'like', 'col_twice_child_%')
      .executeTakeFirstOrThrow()
    expect(Number(children.n)).toBe(50)
  })
})

describe('a child of a collection', () => {
  async function recordChild(orgId: string, collectionId: string, renderId: string) {
    return testDb.db
      .transaction()
      .execute((trx) =>
        recordRenderStatus(trx, { orgId, renderId, kind: 'video', status: 'completed', collectionId }),
      )
      .then(
        () => undefined,
        (error: Error) => error,
      )
  }

  it('of an unknown collection raises a clear error and writes nothing', async () => {
    const error = await recordChild('org_col', 'col_unknown', 'vid_orphan')
    expect(sqlState(error)).toBe('22023')
    expect(error?.message).toBe(
      'collection_id col_unknown is not an open collection of org org_col (call webhooks.open_collection first)',
    )
    const written = await testDb.db
      .selectFrom('webhooks.events')
      .select('id')
      .where('subject_id', '=', 'vid_orphan')
      .execute()
    expect(written).toEqual([])
  })

  it('of another org’s collection is refused the same way', async () => {
    await openCollection('org_col_a', 'col_theirs', 1)
    const error = await recordChild('org_col_b', 'col_theirs', 'vid_foreign')
    expect(error?.message).toMatch(/col_theirs is not an open collection of org org_col_b/)
  })

  it('beyond the announced number is refused once the collection completed', async () => {
    await openCollection('org_col', 'col_two', 2)
    expect(await recordChild('org_col', 'col_two', 'vid_two_1')).toBeUndefined()
    expect(await recordChild('org_col', 'col_two', 'vid_two_2')).toBeUndefined()
    const error = await recordChild('org_col', 'col_two', 'vid_two_3')
    expect(error?.message).toBe('collection_id col_two already has all of its children finished')
    expect(await collectionEvents('col_two')).toHaveLength(1)
  })
})

describe('a completed collection', () => {
  let receiver: Receiver
  let worker: WorkerHandle

  beforeAll(async () => {
    receiver = await startReceiver()
    worker = await startTestWorker(testDb)
  })

  afterAll(async () => {
    await worker?.stop()
    await receiver?.close()
  })

  const create = async (path: string, ...extra: string[]) =>
    runCliJson(testDb, ['endpoints', 'create', '--org', 'org_cd', '--url', receiver.url(path), ...extra])
  const types = (path: string) =>
    receiver.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body).type)

  it('is sent to the collection’s webhook_url and to the org’s subscribed endpoints', async () => {
    await runCliJson(testDb, ['secrets', 'create', '--org', 'org_cd'])
    await create('/cd-all')
    await create('/cd-collections', '--events', 'collection.completed')
    await create('/cd-video', '--events', 'video.*')
    await sql`select webhooks.open_collection(org_id => 'org_cd', collection_id => 'col_d', child_count => 3,
      template_id => 'tpl_d', webhook_url => ${receiver.url('/cd-url')})`.execute(testDb.db)
    for (const [renderId, status] of [
      ['img_d1', 'completed'],
      ['img_d2', 'failed'],
      ['img_d3', 'completed'],
    ] as const) {
      await testDb.db.transaction().execute((trx) =>
        recordRenderStatus(trx, {
          orgId: 'org_cd',
          renderId,
          kind: 'image',
          status,
          collectionId: 'col_d',
        }),
      )
    }

    await vi.waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhooks.deliveries
          where org_id = 'org_cd' and status = 'delivered'`.execute(testDb.db)
        expect(rows[0]?.n).toBe(6)
      },
      { timeout: 10_000 },
    )
    expect(types('/cd-url')).toEqual(['collection.completed'])
    expect(types('/cd-collections')).toEqual(['collection.completed'])
    expect(types('/cd-all').sort()).toEqual([
      'collection.completed',
      'image.completed',
      'image.completed',
      'image.failed',
    ])
    expect(types('/cd-video')).toEqual([])
    const [request] = receiver.requests.filter((r) => r.path === '/cd-url')
    expect(JSON.parse(request?.body ?? '{}')).toEqual({
      type: 'collection.completed',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      data: {
        id: 'col_d',
        status: 'completed',
        template_id: 'tpl_d',
        children: { total: 3, completed: 2, failed: 1 },
      },
    })
  })
})
