import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'

let testDb: TestDb
let api: TestHttpApi

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = await startTestHttpApi(testDb, 4_096)
})
afterAll(async () => {
  await api?.close()
  await testDb?.drop()
})

type Problem = {
  code: string
  status: number
  detail: string
  errors?: Array<{ field: string; message: string }>
}

async function problemOf(method: string, path: string, options: Parameters<TestHttpApi['request']>[2] = {}) {
  const answer = await api.request(method, path, options)
  expect(answer.headers.get('content-type')).toBe('application/problem+json')
  const body = answer.body as Problem
  expect(body.status).toBe(answer.status)
  return body
}

const fields = (problem: Problem) => problem.errors?.map((e) => e.field)

describe('validation errors', () => {
  it('name the refused field of a body, a query and a path, from the same schemas as the TypeScript API', async () => {
    const cases: Array<[string, string, Parameters<TestHttpApi['request']>[2], string]> = [
      [
        'POST',
        '/v1/orgs/org_v/endpoints',
        { body: { url: 'https://example.com/', event_types: ['nope'] } },
        'event_types.0',
      ],
      ['POST', '/v1/orgs/org_v/endpoints', { body: { event_types: null } }, 'url'],
      [
        'POST',
        '/v1/orgs/org_v/endpoints',
        { body: { url: 'https://example.com/', evnt_types: ['video.*'] } },
        'evnt_types',
      ],
      ['POST', '/v1/orgs/org_v/endpoints', { body: { url: 'ftp://example.com/' } }, 'url'],
      ['GET', '/v1/orgs/org_v/deliveries?status=lost', {}, 'status.0'],
      ['GET', '/v1/orgs/org_v/deliveries?status=dropped&status=nope', {}, 'status.1'],
      ['GET', '/v1/orgs/org_v/deliveries?limit=1000', {}, 'limit'],
      ['GET', '/v1/orgs/org_v/deliveries?since=2026-05-04T10:00:00', {}, 'since'],
      ['GET', '/v1/orgs/org_v/deliveries?after=garbage', {}, 'after'],
      ['GET', `/v1/orgs/${encodeURIComponent('org v')}/endpoints`, {}, 'org'],
      [
        'POST',
        '/v1/orgs/org_v/secret',
        { body: {}, headers: { 'idempotency-key': 'x'.repeat(256) } },
        'idempotency-key',
      ],
    ]
    for (const [method, path, options, field] of cases) {
      const problem = await problemOf(method, path, options)
      expect({ path, code: problem.code, status: problem.status }).toEqual({
        path,
        code: 'INVALID_ARGUMENT',
        status: 400,
      })
      expect({ path, fields: fields(problem) }).toEqual({ path, fields: [field] })
    }
    const { rows } = await testDb.pool.query(
      "select count(*)::int as n from webhooks.endpoints where org_id = 'org_v'",
    )
    expect(rows).toEqual([{ n: 0 }])
  })

  it('refuses malformed JSON, a body that is not JSON, and one over the size limit', async () => {
    expect(
      await problemOf('POST', '/v1/orgs/org_v/endpoints', {
        raw: '{"url":',
        headers: { 'content-type': 'application/json' },
      }),
    ).toMatchObject({
      code: 'MALFORMED_JSON',
      status: 400,
    })
    expect(
      await problemOf('POST', '/v1/orgs/org_v/endpoints', {
        raw: 'url=x',
        headers: { 'content-type': 'text/plain' },
      }),
    ).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 })
    expect(
      await problemOf('POST', '/v1/orgs/org_v/endpoints', {
        body: { url: 'https://example.com/', description: 'x'.repeat(5_000) },
      }),
    ).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 })
  })

  it('answers unknown routes and ids with problems', async () => {
    expect(await problemOf('GET', '/v1/orgs/org_v/nothing')).toMatchObject({
      code: 'ROUTE_NOT_FOUND',
      status: 404,
    })
    expect(await problemOf('GET', '/v1/orgs/org_v/endpoints/ep_nope')).toEqual({
      type: 'urn:imtegrate-webhooks:problem:NOT_FOUND',
      title: 'Not found',
      status: 404,
      code: 'NOT_FOUND',
      detail: 'no endpoint ep_nope',
    })
    expect(await problemOf('POST', '/v1/orgs/org_v/secret/rotate', { body: {} })).toMatchObject({
      code: 'NOT_FOUND',
    })
  })
})
