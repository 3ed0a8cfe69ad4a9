import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { collectionCall, renderCall } from './recording-arbitraries.ts'
import type { CollectionArgs, RenderArgs, SqlError } from './sql-calls.ts'
import { asSqlError, callOpenCollection, callRecord } from './sql-calls.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await testDb?.drop()
})

// ---- what the database holds, before and after a call

type Counts = {
  events: number
  outcomes: number
  collections: number
  children: number
  completedCollections: number
}

async function counts(client: pg.ClientBase | pg.Pool): Promise<Counts> {
  const { rows } = await client.query<Counts>(`select
    (select count(*)::int from webhooks.events) as events,
    (select count(*)::int from webhooks.events where type <> 'collection.completed') as outcomes,
    (select count(*)::int from webhooks.collections) as collections,
    (select coalesce(sum(completed + failed), 0)::int from webhooks.collections) as children,
    (select count(*)::int from webhooks.collections where event_id is not null) as "completedCollections"`)
  return rows[0] as Counts
}

/** What PostgreSQL does to a JS string on the way in: lone surrogates become U+FFFD. */
const asStored = (value: unknown) => (typeof value === 'string' ? Buffer.from(value).toString('utf8') : value)

const ARGUMENTS = [
  'org_id',
  'render_id',
  'kind',
  'status',
  'template_id',
  'result_url',
  'duration_ms',
  'webhook_url',
  'collection_id',
  'error',
  'child_count',
]

/** A refusal must be a data exception (class 22), and ours must name the argument it refuses. */
function expectCleanRefusal(failure: SqlError): void {
  expect(failure.code, failure.message).toMatch(/^22/)
  if (failure.code === '22023') {
    expect(ARGUMENTS).toContain(failure.message.split(' ')[0])
  }
}

function expectedData(a: RenderArgs): Record<string, unknown> {
  const data: Record<string, unknown> = {
    id: a.render_id,
    status: a.status,
    result_url: a.status === 'completed' ? asStored(a.result_url) : null,
    template_id: a.template_id,
    duration_ms: a.duration_ms === null ? null : Number(a.duration_ms),
  }
  if (a.status === 'failed' && a.error !== null) {
    const error = JSON.parse(a.error as string) as { code?: string; message?: string }
    data['error'] = { code: asStored(error.code ?? null), message: asStored(error.message ?? null) }
  }
  return data
}

/** A call that returned an event: the event, its outcome row and any collection event agree with the input. */
async function expectRecorded(client: pg.ClientBase, a: RenderArgs, eventId: string, before: Counts) {
  expect(a.status === 'completed' || a.status === 'failed').toBe(true)
  const { rows } = await client.query(
    `select e.org_id, e.type, e.subject_id, e.webhook_url, e.data, e.data ->> 'status' as outcome_status
     from webhooks.events e
     where e.id = $1 and e.org_id = $2 and e.subject_id = $3 and e.type <> 'collection.completed'`,
    [eventId, a.org_id, a.render_id],
  )
  expect(rows).toHaveLength(1)
  const [row] = rows
  expect(row).toMatchObject({ org_id: a.org_id, type: `${a.kind}.${a.status}`, subject_id: a.render_id })
  expect(row.webhook_url).toBe(asStored(a.webhook_url))
  expect(row.outcome_status).toBe(a.status)
  const expected = expectedData(a)
  expect(row.data).toEqual(expected)
  expect(Object.keys(row.data)).toEqual(Object.keys(expected))
  const after = await counts(client)
  const completed = after.completedCollections - before.completedCollections
  if (completed > 0) {
    await expectCollectionEvent(client, a)
  }
  expect(after).toEqual({
    ...before,
    events: before.events + 1 + completed,
    outcomes: before.outcomes + 1,
    children: before.children + (a.collection_id === null ? 0 : 1),
    completedCollections: before.completedCollections + completed,
  })
  expect(completed).toBeLessThanOrEqual(a.collection_id === null ? 0 : 1)
}

/** The collection.completed event this call made, if the call finished its collection. */
async function expectCollectionEvent(client: pg.ClientBase, a: RenderArgs): Promise<void> {
  const { rows } = await client.query(
    `select c.completed + c.failed = c.child_count as done, c.template_id, e.type, e.data
     from webhooks.collections c join webhooks.events e on e.id = c.event_id
     where c.org_id = $1 and c.id = $2`,
    [a.org_id, a.collection_id],
  )
  expect(rows).toHaveLength(1)
  expect(rows[0]).toMatchObject({ done: true, type: 'collection.completed' })
  expect(rows[0].data).toMatchObject({
    id: a.collection_id,
    status: 'completed',
    template_id: rows[0].template_id,
  })
}

/** A call that opened (or re-opened) a collection: the row is there, with the count asked for. */
async function expectOpened(client: pg.ClientBase, a: CollectionArgs, before: Counts) {
  const { rows } = await client.query(
    `select child_count, template_id, webhook_url from webhooks.collections where org_id = $1 and id = $2`,
    [a.org_id, a.collection_id],
  )
  expect(rows).toHaveLength(1)
  expect(rows[0].child_count).toBe(Number(a.child_count))
  const after = await counts(client)
  expect(after.collections - before.collections).toBeLessThanOrEqual(1)
  expect({ ...after, collections: before.collections }).toEqual(before)
}

type Call = (RenderArgs & { fn: 'record' }) | (CollectionArgs & { fn: 'open' })

/** How the calls of a run ended, so the test can show it exercised every path. */
const seen = { events: 0, nulls: 0, opened: 0, refused: new Map<string, number>() }

/** Makes the call; what it returned, or the refusal it raised. */
async function attempt(client: pg.ClientBase, call: Call) {
  try {
    const value =
      call.fn === 'record' ? await callRecord(client, call) : await callOpenCollection(client, call)
    return { ok: true as const, value: value ?? null }
  } catch (thrown) {
    return { ok: false as const, failure: asSqlError(thrown) }
  }
}

/** One call in its own transaction: it records exactly what it says, or raises and leaves nothing. */
async function checkCall(call: Call): Promise<void> {
  const client = await testDb.pool.connect()
  try {
    await client.query('begin')
    const before = await counts(client)
    const result = await attempt(client, call)
    if (!result.ok) {
      await client.query('rollback')
      expectCleanRefusal(result.failure)
      expect(await counts(client)).toEqual(before)
      const code = result.failure.code ?? 'none'
      seen.refused.set(code, (seen.refused.get(code) ?? 0) + 1)
      return
    }
    if (call.fn === 'open') {
      await expectOpened(client, call, before)
      seen.opened++
    } else if (result.value === null) {
      expect(await counts(client)).toEqual(before)
      seen.nulls++
    } else {
      await expectRecorded(client, call, result.value, before)
      seen.events++
    }
    await client.query('commit')
  } finally {
    client.release()
  }
}

describe('the recording functions driven with random input', () => {
  it('either record a consistent event or raise a clean error, and never half-write', async () => {
    const call = fc.oneof({ arbitrary: renderCall, weight: 3 }, { arbitrary: collectionCall, weight: 1 })
    // A fixed seed: the path assertions below (a collection completing, say) must not depend on luck.
    await fc.assert(fc.asyncProperty(call, checkCall), { numRuns: 300, seed: 20261129 })
    // The run was not vacuous: calls made events, made none, opened collections, completed some,
    // and were refused for bad arguments and for values PostgreSQL itself cannot take.
    expect(seen.events).toBeGreaterThan(10)
    expect(seen.nulls).toBeGreaterThan(5)
    expect(seen.opened).toBeGreaterThan(5)
    expect((await counts(testDb.pool)).completedCollections).toBeGreaterThan(0)
    expect(seen.refused.get('22023')).toBeGreaterThan(20)
    expect(seen.refused.size).toBeGreaterThan(1)
  }, 120_000)
})
