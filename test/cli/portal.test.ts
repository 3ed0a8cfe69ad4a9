import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'
import { portalClient, tokenOf } from '../helpers/portal.ts'

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

type Link = { id: string; url: string; capabilities: string[]; session_ttl_seconds: number }

describe('imtegrate-webhooks portal', () => {
  it('prints a link that opens a session once, starting with WEBHOOK_PORTAL_URL', async () => {
    const printed = await runCli(testDb, ['portal', 'link', '--org', 'org_1', '--ttl', '5m'], {
      WEBHOOK_PORTAL_URL: api.url,
    })
    expect(printed.code).toBe(0)
    expect(printed.out).toMatch(new RegExp(`^${api.url}/portal#ipl_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`))
    expect(printed.err).toContain('manage_endpoints, replay, view_secrets')
    expect((await portalClient(api).exchange(tokenOf(printed.out))).status).toBe(204)
    expect((await portalClient(api).exchange(tokenOf(printed.out))).status).toBe(401)
  })

  it('makes read-only links, or links with the capabilities named', async () => {
    const readOnly = await runCliJson<Link>(testDb, ['portal', 'link', '--org', 'org_1', '--read-only'])
    expect(readOnly).toMatchObject({
      capabilities: [],
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:8787\/portal#/),
    })
    const some = await runCliJson<Link>(testDb, [
      'portal',
      'link',
      '--org',
      'org_1',
      '--capability',
      'replay',
      '--capability',
      'view_secrets',
      '--session-ttl',
      '15m',
    ])
    expect(some).toMatchObject({ capabilities: ['replay', 'view_secrets'], session_ttl_seconds: 900 })
    expect(await runCli(testDb, ['portal', 'link', '--org', 'org_1', '--capability', 'admin'])).toMatchObject(
      {
        code: 2,
        err: expect.stringContaining('capabilities.0 must be one of manage_endpoints, replay, view_secrets'),
      },
    )
    expect(
      (await runCli(testDb, ['portal', 'link', '--org', 'org_1', '--read-only', '--capability', 'replay']))
        .code,
    ).toBe(2)
    expect((await runCli(testDb, ['portal', 'link'])).code).toBe(2)
  })

  it('lists and revokes sessions', async () => {
    const browser = portalClient(api)
    await browser.exchange(
      tokenOf((await runCliJson<Link>(testDb, ['portal', 'link', '--org', 'org_2'])).url),
    )
    const sessions = await runCliJson<Array<{ id: string }>>(testDb, ['portal', 'sessions', '--org', 'org_2'])
    expect(sessions).toHaveLength(1)
    expect((await runCli(testDb, ['portal', 'sessions', '--org', 'org_2'])).out).toContain(sessions[0]?.id)
    expect(await runCli(testDb, ['portal', 'revoke', '--org', 'org_2', sessions[0]?.id ?? ''])).toMatchObject(
      {
        code: 0,
        out: `revoked ${sessions[0]?.id}`,
      },
    )
    expect((await browser.get('/portal/endpoints')).status).toBe(401)
    expect(await runCli(testDb, ['portal', 'revoke', '--org', 'org_2', '--all'])).toMatchObject({
      code: 0,
      out: 'revoked 0 session(s) of org_2',
    })
    expect((await runCli(testDb, ['portal', 'revoke', '--org', 'org_2'])).code).toBe(2)
  })
})
