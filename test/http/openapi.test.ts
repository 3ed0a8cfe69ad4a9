import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/api/http/routes.ts'
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

type Doc = {
  openapi: string
  paths: Record<
    string,
    Record<string, { operationId?: string; security?: unknown[]; responses: Record<string, unknown> }>
  >
}

describe('/v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const { status, body } = await api.request('GET', '/v1/openapi.json', { key: null })
    expect(status).toBe(200)
    const validator = new Validator()
    const result = await validator.validate(body as Record<string, unknown>)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
  })

  it('lists every route the server answers, each behind the API key, with its problems', async () => {
    const doc = (await api.request('GET', '/v1/openapi.json', { key: null })).body as Doc
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const served = [
      ...ROUTES.map((r) => `${r.method.toUpperCase()} /v1/orgs/{org}${r.path}`),
      'GET /v1/event-types',
    ]
    expect(documented.sort()).toEqual(served.sort())
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(op.security).toEqual([{ apiKey: [] }])
        const problems = path.startsWith('/v1/orgs/') ? ['400', '401', '404', '500'] : ['401', '500']
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(problems))
      }
    }
    // Every documented route is answered (401 without a key), none is a 404 of the router.
    for (const entry of served) {
      const [method, path] = entry.split(' ') as [string, string]
      const concrete = path.replace('{org}', 'org_doc').replace(/\{\w+\}/, 'x_1')
      const answer = await api.request(method, concrete, { key: null })
      expect({ entry, status: answer.status }).toEqual({ entry, status: 401 })
    }
  })
})
