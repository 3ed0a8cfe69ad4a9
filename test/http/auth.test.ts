import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, runCliJson } from '../helpers/cli.ts'
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

const unauthorized = {
  type: 'urn:imtegrate-webhooks:problem:UNAUTHORIZED',
  title: 'Missing, invalid or revoked API key',
  status: 401,
  code: 'UNAUTHORIZED',
  detail: 'send a valid API key: Authorization: Bearer iwk_…',
}

describe('API keys', () => {
  it('lets a request with a valid key through', async () => {
    expect((await api.request('GET', '/v1/orgs/org_1/endpoints')).status).toBe(200)
  })

  it('answers a missing, malformed or wrong key with the same 401 problem', async () => {
    const wrong = `${api.key.slice(0, -4)}AAAA`
    for (const key of [null, 'nonsense', wrong, api.key.toUpperCase()]) {
      const answer = await api.request('GET', '/v1/orgs/org_1/endpoints', { key })
      expect(answer.status).toBe(401)
      expect(answer.headers.get('content-type')).toBe('application/problem+json')
      expect(answer.headers.get('www-authenticate')).toBe('Bearer')
      expect(answer.body).toEqual(unauthorized)
    }
    const basic = await api.request('GET', '/v1/orgs/org_1/endpoints', {
      key: null,
      headers: { authorization: `Basic ${api.key}` },
    })
    expect(basic.status).toBe(401)
  })

  it('is made, listed and revoked with the CLI; a revoked key stops working at once', async () => {
    const made = await runCliJson<{ id: string; name: string; key: string }>(testDb, [
      'api-keys',
      'create',
      '--name',
      'render service',
    ])
    expect(made.key).toMatch(/^iwk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect((await api.request('POST', '/v1/orgs/org_k/secret', { key: made.key, body: {} })).status).toBe(201)
    const listed = await runCli(testDb, ['api-keys', 'list'])
    expect(listed.out).toContain(made.id)
    expect(listed.out).toContain('render service')
    expect(listed.out).not.toContain(made.key.slice(21))
    const stored = await testDb.pool.query('select * from webhooks.api_keys where id = $1', [made.id])
    expect(JSON.stringify(stored.rows)).not.toContain(made.key.slice(21))

    expect(await runCli(testDb, ['api-keys', 'revoke', made.id])).toMatchObject({
      code: 0,
      out: `revoked ${made.id}`,
    })
    const refused = await api.request('GET', '/v1/orgs/org_k/secret', { key: made.key })
    expect(refused).toMatchObject({ status: 401, body: unauthorized })
    expect(await runCli(testDb, ['api-keys', 'revoke', 'key_nope'])).toMatchObject({
      code: 1,
      err: 'error: no API key key_nope',
    })
    expect((await runCli(testDb, ['api-keys', 'create'])).code).toBe(2)
  })

  it('counts a key name in characters, as the check on its column does (astral-plane ones too)', async () => {
    // Regression (issue 13): the CLI counted UTF-16 units: 150 emoji were over the limit of 200.
    const name = '😀'.repeat(200)
    const made = await runCliJson<{ id: string; name: string }>(testDb, [
      'api-keys',
      'create',
      '--name',
      name,
    ])
    expect(made.name).toBe(name)
    const { rows } = await testDb.pool.query(
      'select length(name) as n from webhooks.api_keys where id = $1',
      [made.id],
    )
    expect(rows).toEqual([{ n: 200 }])
    const refused = await runCli(testDb, ['api-keys', 'create', '--name', `${name}😀`])
    expect(refused).toMatchObject({
      code: 2,
      err: expect.stringContaining('--name must be 1 to 200 characters'),
    })
  })

  it('never logs a key, and logs each request with the key id', async () => {
    await api.request('GET', '/v1/orgs/org_1/deliveries?status=dropped')
    await api.request('GET', '/v1/orgs/org_1/endpoints', { key: `${api.key}x` })
    const logs = api.logs.join('\n')
    expect(logs).not.toContain(api.key.slice(21))
    expect(logs).not.toContain('authorization')
    const line = api.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['path'] === '/v1/orgs/org_1/deliveries')
    expect(line).toMatchObject({ msg: 'api request', method: 'GET', status: 200, keyId: api.keyId })
  })

  it('serves the OpenAPI document without a key', async () => {
    expect((await api.request('GET', '/v1/openapi.json', { key: null })).status).toBe(200)
  })
})
