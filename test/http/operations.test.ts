import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/api/http/routes.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { seedDropped } from '../helpers/dropped.ts'
import type { HttpAnswer, TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'

let testDb: TestDb
let api: TestHttpApi
const called = new Set<string>()

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = await startTestHttpApi(testDb)
})
afterAll(async () => {
  await api?.close()
  await testDb?.drop()
})

type Body = Record<string, unknown> & { data?: Array<Record<string, unknown>> }

/** A request under /v1/orgs/org_h that must answer `status`; records which route it used. */
async function call(method: string, path: string, status: number, body?: unknown): Promise<Body> {
  const answer: HttpAnswer = await api.request(
    method,
    `/v1/orgs/org_h${path}`,
    body === undefined ? {} : { body },
  )
  expect({
    method,
    path,
    status: answer.status,
    body: answer.status === status ? undefined : answer.body,
  }).toEqual({
    method,
    path,
    status,
    body: undefined,
  })
  const route = ROUTES.find(
    (r) =>
      r.method === method.toLowerCase() &&
      new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}(\\?.*)?$`).test(path),
  )
  if (route !== undefined) {
    called.add(route.operation)
  }
  return answer.body as Body
}

describe('every operation over HTTP', () => {
  it('manages endpoints', async () => {
    const created = await call('POST', '/endpoints', 201, {
      url: 'https://example.com/h',
      event_types: ['video.*'],
    })
    expect(created).toMatchObject({ org_id: 'org_h', secret: expect.stringMatching(/^whsec_/) })
    const id = String(created['id'])
    await call('POST', '/endpoints', 201, { url: 'https://example.com/h2' })
    const page = await call('GET', '/endpoints?limit=1', 200)
    expect(page.data?.map((e) => e['id'])).toEqual([id])
    const next = await call('GET', `/endpoints?limit=1&after=${String(page['next_cursor'])}`, 200)
    expect(next.data).toHaveLength(1)
    expect(next['prev_cursor']).toEqual(expect.any(String))
    expect(await call('GET', `/endpoints/${id}`, 200)).not.toHaveProperty('secret')
    expect(await call('PATCH', `/endpoints/${id}`, 200, { description: 'patched' })).toMatchObject({
      description: 'patched',
      event_types: ['video.*'],
    })
    expect(await call('POST', `/endpoints/${id}/disable`, 200, { reason: 'paused' })).toMatchObject({
      endpoint: { enabled: false, disabled_reason: 'paused' },
    })
    expect(await call('POST', `/endpoints/${id}/test`, 409, { event_type: 'video.completed' })).toMatchObject(
      {
        code: 'DESTINATION_INACTIVE',
      },
    )
    expect(await call('POST', `/endpoints/${id}/enable`, 200)).toMatchObject({ enabled: true })
    const rotated = await call('POST', `/endpoints/${id}/rotate-secret`, 200, {})
    expect(await call('GET', `/endpoints/${id}/secret`, 200)).toEqual({ secret: rotated['secret'] })
    expect(await call('POST', `/endpoints/${id}/rotate-secret`, 409)).toMatchObject({
      code: 'SECRET_STILL_SIGNING',
    })
    const sent = await call('POST', `/endpoints/${id}/test`, 202, { event_type: 'video.completed' })
    expect(sent).toMatchObject({ event_type: 'video.completed', delivery_id: expect.stringMatching(/^dlv_/) })
    const listed = await call('GET', `/deliveries?endpoint_id=${id}&status=pending&status=in_flight`, 400)
    expect(listed).toMatchObject({ code: 'INVALID_ARGUMENT', errors: [{ field: 'status.1' }] })
    const tests = await call('GET', `/deliveries?endpoint_id=${id}&status=pending&status=delivered`, 200)
    expect(tests.data?.map((d) => [d['id'], d['test']])).toEqual([[sent['delivery_id'], true]])
    expect(await call('GET', `/deliveries/${String(sent['delivery_id'])}`, 200)).toMatchObject({
      test: true,
      payload: { type: 'video.completed' },
      attempt_log: [],
    })
    expect(await call('POST', `/deliveries/${String(sent['delivery_id'])}/replay`, 409)).toMatchObject({
      code: 'DELIVERY_IN_PROGRESS',
    })
    expect(await call('DELETE', `/endpoints/${id}`, 200)).toMatchObject({ id, deleted: true })
    expect(await call('GET', `/endpoints/${id}`, 404)).toMatchObject({ code: 'NOT_FOUND' })
  })

  it('replays and recovers deliveries', async () => {
    const ep = String((await call('POST', '/endpoints', 201, { url: 'https://example.com/r' }))['id'])
    const dropped = await seedDropped(testDb, 'org_h', ep, 4)
    const since = encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())
    expect(await call('GET', `/endpoints/${ep}/recoverable?since=${since}`, 200)).toMatchObject({ count: 4 })
    expect(await call('POST', `/deliveries/${dropped[0]}/replay`, 202)).toEqual({
      delivery_id: dropped[0],
      status: 'pending',
    })
    expect(await call('GET', `/endpoints/${ep}/recoverable?since=${since}`, 200)).toMatchObject({ count: 3 })
    const run = await call('POST', '/recoveries', 202, { endpoint_id: ep, since: decodeURIComponent(since) })
    expect(run).toMatchObject({ status: 'queued', total: 3 })
    expect(await call('GET', `/recoveries/${String(run['id'])}`, 200)).toMatchObject({ id: run['id'] })
    expect((await call('GET', '/recoveries', 200)).data?.map((r) => r['id'])).toEqual([run['id']])
    const { rows } = await testDb.pool.query('select task_identifier, key from graphile_worker.jobs')
    expect(rows).toEqual([{ task_identifier: 'recover', key: `recover:${String(run['id'])}` }])
  })

  it("manages the org's render-webhook secret", async () => {
    expect(await call('GET', '/secret', 404)).toMatchObject({ code: 'NOT_FOUND' })
    const created = await call('POST', '/secret', 201)
    expect(created).toEqual({ org_id: 'org_h', secret: expect.stringMatching(/^whsec_/) })
    expect(await call('POST', '/secret', 409)).toMatchObject({ code: 'SECRET_EXISTS' })
    expect(await call('GET', '/secret', 200)).toMatchObject({ org_id: 'org_h', rotated_at: null })
    const rotated = await call('POST', '/secret/rotate', 200, { force: false })
    expect(await call('GET', '/secret/reveal', 200)).toEqual({ secret: rotated['secret'] })
  })

  it('makes portal links, lists the sessions they opened and revokes them', async () => {
    const link = await call('POST', '/portal-links', 201, { ttl: '5m', capabilities: ['replay'] })
    expect(link).toMatchObject({
      id: expect.stringMatching(/^pl_[0-9a-f]{16}$/),
      url: expect.stringMatching(new RegExp(`^${api.url}/portal#ipl_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`)),
      capabilities: ['replay'],
      session_ttl_seconds: 3600,
    })
    expect(await call('POST', '/portal-links', 400, { ttl: '2h' })).toMatchObject({
      errors: [{ field: 'ttl', message: 'must be from 1m to 1h' }],
    })
    const token = String(link['url']).split('#')[1]
    const opened = await fetch(`${api.url}/portal/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: api.url },
      body: JSON.stringify({ token }),
    })
    expect(opened.status).toBe(204)
    const listed = await call('GET', '/portal-sessions', 200)
    expect(listed.data).toEqual([expect.objectContaining({ capabilities: ['replay'] })])
    const id = String(listed.data?.[0]?.['id'])
    expect(await call('POST', `/portal-sessions/${id}/revoke`, 200)).toEqual({ revoked: 1 })
    expect(await call('POST', `/portal-sessions/${id}/revoke`, 404)).toMatchObject({ code: 'NOT_FOUND' })
    expect(await call('POST', '/portal-sessions/revoke', 200)).toEqual({ revoked: 0 })
  })

  it('lists the event types with an example of each', async () => {
    const answer = await api.request('GET', '/v1/event-types')
    expect((answer.body as Body).data?.map((t) => t['type'])).toEqual([
      'image.completed',
      'image.failed',
      'video.completed',
      'video.failed',
      'collection.completed',
    ])
  })

  it('has called every route', () => {
    expect([...called].sort()).toEqual(ROUTES.map((r) => r.operation).sort())
  })
})
