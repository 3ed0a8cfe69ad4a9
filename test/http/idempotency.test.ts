import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueApiKey } from '../../src/api/api-keys.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'

let testDb: TestDb
let api: TestHttpApi

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = await startTestHttpApi(testDb)
})
afterAll(async () => {
  await api?.close()
  await testDb?.drop()
})

const endpointsOf = async (org: string) =>
  (await testDb.pool.query('select id from webhooks.endpoints where org_id = $1', [org])).rows

describe('Idempotency-Key on POST', () => {
  it('answers a repeat with the first answer (the same secret) without running it again', async () => {
    const post = () =>
      api.request('POST', '/v1/orgs/org_i/endpoints', {
        body: { url: 'https://example.com/i' },
        headers: { 'idempotency-key': 'create-1' },
      })
    const first = await post()
    const again = await post()
    expect(first.status).toBe(201)
    expect(first.headers.get('idempotent-replayed')).toBeNull()
    expect(again).toMatchObject({ status: 201, body: first.body })
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await endpointsOf('org_i')).toHaveLength(1)
    // The stored answer holds the new secret: it is sealed like the secret itself.
    const { rows } = await testDb.pool.query('select response from webhooks.idempotency_keys')
    expect(JSON.stringify(rows)).not.toContain((first.body as { secret: string }).secret)
  })

  it('runs repeats arriving at the same time once', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        api.request('POST', '/v1/orgs/org_i2/endpoints', {
          body: { url: 'https://example.com/i2' },
          headers: { 'idempotency-key': 'same-time' },
        }),
      ),
    )
    expect(new Set(answers.map((a) => JSON.stringify([a.status, a.body]))).size).toBe(1)
    expect(await endpointsOf('org_i2')).toHaveLength(1)
  })

  it('refuses the same key with another request, and keeps keys apart per API key', async () => {
    const key = { 'idempotency-key': 'k-2' }
    expect(
      (
        await api.request('POST', '/v1/orgs/org_i3/endpoints', {
          body: { url: 'https://example.com/a' },
          headers: key,
        })
      ).status,
    ).toBe(201)
    const other = await api.request('POST', '/v1/orgs/org_i3/endpoints', {
      body: { url: 'https://example.com/b' },
      headers: key,
    })
    expect(other).toMatchObject({ status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED' } })
    const elsewhere = await api.request('POST', '/v1/orgs/org_i4/secret', { body: {}, headers: key })
    expect(elsewhere).toMatchObject({ status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED' } })
    const second = await issueApiKey(testDb.db, 'another caller')
    const theirs = await api.request('POST', '/v1/orgs/org_i3/endpoints', {
      body: { url: 'https://example.com/b' },
      headers: key,
      key: second.key,
    })
    expect(theirs.status).toBe(201)
    expect(await endpointsOf('org_i3')).toHaveLength(2)
  })

  it('does not keep a failure: a repeat after the cause is fixed runs', async () => {
    const key = { 'idempotency-key': 'after-fix' }
    const refused = await api.request('POST', '/v1/orgs/org_i5/secret/rotate', { body: {}, headers: key })
    expect(refused).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } })
    expect((await api.request('POST', '/v1/orgs/org_i5/secret', { body: {} })).status).toBe(201)
    const rotated = await api.request('POST', '/v1/orgs/org_i5/secret/rotate', { body: {}, headers: key })
    expect(rotated.status).toBe(200)
    const repeat = await api.request('POST', '/v1/orgs/org_i5/secret/rotate', { body: {}, headers: key })
    expect(repeat).toMatchObject({ status: 200, body: rotated.body })
  })

  it('is honoured on every POST route', async () => {
    const { body: doc } = await api.request('GET', '/v1/openapi.json', { key: null })
    const paths = (
      doc as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>> }
    ).paths
    const posts = Object.entries(paths).flatMap(([path, ops]) =>
      ops['post'] ? [[path, ops['post']] as const] : [],
    )
    expect(posts.length).toBeGreaterThan(5)
    for (const [path, op] of posts) {
      expect({
        path,
        header: op.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key'),
      }).toEqual({
        path,
        header: true,
      })
    }
  })
})
