import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import { testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { OrgIds } from '../helpers/two-orgs.ts'
import { ID_CALLS, idsOf, orgSnapshot, populateOrg, unknownId } from '../helpers/two-orgs.ts'

let testDb: TestDb
let api: WebhooksApi
let orgs: OrgIds[]

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = testApi(testDb)
  orgs = []
  for (const org of ['org_a', 'org_b', 'org_c']) {
    orgs.push(await populateOrg(testDb, api, org))
  }
})
afterAll(() => testDb?.drop())

/** What a call answered, with `id` written as <id> so that answers about two ids compare. */
async function answer(call: () => Promise<unknown>, id: string): Promise<unknown> {
  const outcome = await call().then(
    (value) => ({ value }),
    (error: { code?: string; field?: string; message?: string }) => ({
      error: { code: error.code, field: error.field, message: error.message },
    }),
  )
  return JSON.parse(JSON.stringify(outcome).replaceAll(id, '<id>'))
}

describe("no operation of one org reaches another org's data (TypeScript API)", () => {
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
          const other = await answer(() => idCall.call(api, caller.org, id), id)
          expect(await orgSnapshot(testDb, owner.org)).toEqual(before)
          const missing = await answer(() => idCall.call(api, caller.org, unknown), unknown)
          expect(other).toEqual(missing)
          expect(JSON.stringify(other)).not.toContain(owner.org)
        },
      ),
      { numRuns: 120 },
    )
  })

  it("lists none of another org's endpoints, deliveries or recoveries", async () => {
    for (const org of orgs) {
      const others = orgs.filter((o) => o !== org)
      const listed = JSON.stringify([
        await api.listEndpoints(org.org, { limit: 100 }),
        await api.listDeliveries(org.org, { limit: 100 }),
        await api.listRecoveries(org.org, { limit: 100 }),
        await api.getOrgSecret(org.org),
      ])
      for (const other of others) {
        for (const id of [other.org, ...other.endpoints, ...other.deliveries, ...other.recoveries]) {
          expect(listed).not.toContain(id)
        }
      }
    }
  })
})
