import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'
import type { OrgIds } from '../helpers/two-orgs.ts'
import { ID_CALLS, idsOf, orgSnapshot, populateOrg, unknownId } from '../helpers/two-orgs.ts'

let testDb: TestDb
let http: TestHttpApi
let orgs: OrgIds[]

beforeAll(async () => {
  testDb = await createTestDatabase()
  http = await startTestHttpApi(testDb)
  orgs = []
  for (const org of ['org_x', 'org_y', 'org_z']) {
    orgs.push(await populateOrg(testDb, testApi(testDb), org))
  }
})
afterAll(async () => {
  await http?.close()
  await testDb?.drop()
})

/** What the server answered (status, content type, body), with `id` written as <id>. */
async function answer(method: string, path: string, body: unknown, id: string): Promise<unknown> {
  const got = await http.request(method, path, body === undefined ? {} : { body })
  return JSON.parse(
    JSON.stringify({ status: got.status, type: got.headers.get('content-type'), body: got.body }).replaceAll(
      id,
      '<id>',
    ),
  )
}

describe("no operation of one org reaches another org's data (HTTP API)", () => {
  it("answers another org's id exactly as an unknown id, and changes nothing of the other org", async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom(...ID_CALLS),
        fc.nat(),
        async (callerIndex, offset, idCall, pick) => {
          const caller = orgs[callerIndex] as OrgIds
          const owner = orgs[(callerIndex + offset) % orgs.length] as OrgIds
          const theirs = idsOf(owner, idCall.kind)
          const id = theirs[pick % theirs.length] as string
          const unknown = unknownId(idCall.kind, ++n)
          const before = await orgSnapshot(testDb, owner.org)
          const asked = idCall.http(id)
          const other = await answer(asked.method, `/v1/orgs/${caller.org}${asked.path}`, asked.body, id)
          expect(await orgSnapshot(testDb, owner.org)).toEqual(before)
          const missingCall = idCall.http(unknown)
          const missing = await answer(
            missingCall.method,
            `/v1/orgs/${caller.org}${missingCall.path}`,
            missingCall.body,
            unknown,
          )
          expect({ call: idCall.name, answer: other }).toEqual({ call: idCall.name, answer: missing })
          expect(JSON.stringify(other)).not.toContain(owner.org)
        },
      ),
      { numRuns: 120 },
    )
  }, 120_000)
})
