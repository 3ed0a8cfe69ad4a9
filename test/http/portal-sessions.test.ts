import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHttpApp } from '../../src/api/http/app.ts'
import { createLogger } from '../../src/logger.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import { TEST_KEY, testApi } from '../helpers/api.ts'
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

async function link(org: string, body: Record<string, unknown> = {}): Promise<string> {
  const answer = await api.request('POST', `/v1/orgs/${org}/portal-links`, { body })
  expect(answer.status).toBe(201)
  return (answer.body as { url: string }).url
}

describe('portal links', () => {
  it('open one session, once; the link is refused after that, as an unknown one is', async () => {
    const url = await link('org_a')
    const browser = portalClient(api)
    expect((await browser.exchange(tokenOf(url))).status).toBe(204)
    expect((await browser.get('/portal/endpoints')).status).toBe(200)
    const again = await portalClient(api).exchange(tokenOf(url))
    const unknown = await portalClient(api).exchange(`${tokenOf(url).slice(0, -4)}AAAA`)
    expect(again.status).toBe(401)
    expect(again.headers.get('set-cookie')).toBeNull()
    expect({ status: unknown.status, text: unknown.text }).toEqual({ status: again.status, text: again.text })
  })

  it('open one session when exchanged twice at once', async () => {
    const token = tokenOf(await link('org_a'))
    const answers = await Promise.all(Array.from({ length: 6 }, () => portalClient(api).exchange(token)))
    expect(answers.map((a) => a.status).sort()).toEqual([204, 401, 401, 401, 401, 401])
  })

  it('are refused once expired', async () => {
    const url = await link('org_a', { ttl: '1m' })
    await testDb.pool.query(
      "update webhooks.portal_links set expires_at = now() - interval '1 second', created_at = now() - interval '2 minutes'",
    )
    expect((await portalClient(api).exchange(tokenOf(url))).status).toBe(401)
  })

  it('are refused from another origin: a page elsewhere cannot sign a browser in', async () => {
    const url = await link('org_a')
    const answer = await portalClient(api).exchange(tokenOf(url), 'https://attacker.example')
    expect(answer.status).toBe(403)
    expect((await portalClient(api).exchange(tokenOf(url))).status).toBe(204)
  })

  it('keep their secrets out of the database and the log, and in the fragment only', async () => {
    const url = await link('org_a')
    expect(url).toMatch(new RegExp(`^${api.url}/portal#ipl_`))
    const browser = portalClient(api)
    await browser.exchange(tokenOf(url))
    await browser.get('/portal/endpoints')
    const secretOf = (token: string) => token.slice(-43)
    const cookie = browser.cookie?.split('=')[1] ?? ''
    const stored = await testDb.pool.query(
      'select row_to_json(l)::text as l from webhooks.portal_links l union all select row_to_json(s)::text from webhooks.portal_sessions s',
    )
    const text = JSON.stringify(stored.rows) + api.logs.join('\n')
    expect(text).not.toContain(secretOf(tokenOf(url)))
    expect(text).not.toContain(secretOf(cookie))
    expect(api.logs.join('\n')).toContain('"path":"/portal/endpoints"')
  })
})

describe('portal sessions', () => {
  it('live in an HttpOnly, SameSite=Strict cookie of at most an hour', async () => {
    const answer = await portalClient(api).exchange(tokenOf(await link('org_a', { session_ttl: '30m' })))
    const cookie = answer.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^iwp_session=ips_[0-9a-f]{16}_[A-Za-z0-9_-]{43}; /)
    expect(cookie).toContain('HttpOnly')
    expect(cookie).toContain('SameSite=Strict')
    expect(cookie).toContain('Path=/')
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1])
    expect(maxAge).toBeGreaterThan(1700)
    expect(maxAge).toBeLessThanOrEqual(1800)
    // Over plain http (a test server) the cookie cannot be Secure; over https it is, and __Host-.
    expect(cookie).not.toContain('Secure')
  })

  it('are Secure __Host- cookies where the portal is served over https', async () => {
    const app = createHttpApp({
      db: testDb.db,
      box: createSecretBox(TEST_KEY),
      rotationGraceMs: 0,
      logger: createLogger('silent'),
      portalUrl: 'https://webhooks.example.com',
    })
    const made = await testApi(testDb).createPortalLink('org_a')
    const answer = await app.request('https://webhooks.example.com/portal/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://webhooks.example.com' },
      body: JSON.stringify({ token: tokenOf(made.url) }),
    })
    expect(answer.status).toBe(204)
    expect(answer.headers.get('set-cookie')).toMatch(/^__Host-iwp_session=ips_.*; Secure/)
    expect(made.url).toMatch(/^\/portal#ipl_/)
  })

  it('end at their expiry', async () => {
    const browser = portalClient(api)
    await browser.exchange(tokenOf(await link('org_a')))
    expect((await browser.get('/portal/deliveries')).status).toBe(200)
    const id = browser.cookie?.split('=')[1]?.slice(4, 20)
    await testDb.pool.query(
      "update webhooks.portal_sessions set expires_at = now() - interval '1 second', created_at = now() - interval '10 minutes' where id = $1",
      [`ps_${id}`],
    )
    const ended = await browser.get('/portal/deliveries')
    expect(ended.status).toBe(401)
    expect(ended.text).toContain('Your session has ended')
  })

  it('are revoked one by one, or all of an org at once (other orgs keep theirs)', async () => {
    const [one, two, other] = [portalClient(api), portalClient(api), portalClient(api)]
    await one.exchange(tokenOf(await link('org_r')))
    await two.exchange(tokenOf(await link('org_r')))
    await other.exchange(tokenOf(await link('org_s')))
    const unopened = await link('org_r')
    const sessions = (await api.request('GET', '/v1/orgs/org_r/portal-sessions')).body as {
      data: { id: string }[]
    }
    expect(sessions.data).toHaveLength(2)
    const oneId = `ps_${one.cookie?.split('=')[1]?.slice(4, 20)}`
    // Another org's session is not found, and stays open.
    expect((await api.request('POST', `/v1/orgs/org_s/portal-sessions/${oneId}/revoke`)).status).toBe(404)
    expect((await one.get('/portal/endpoints')).status).toBe(200)
    expect((await api.request('POST', `/v1/orgs/org_r/portal-sessions/${oneId}/revoke`)).status).toBe(200)
    expect((await one.get('/portal/endpoints')).status).toBe(401)
    expect((await two.get('/portal/endpoints')).status).toBe(200)
    expect((await api.request('POST', '/v1/orgs/org_r/portal-sessions/revoke')).body).toEqual({ revoked: 1 })
    expect((await two.get('/portal/endpoints')).status).toBe(401)
    expect((await portalClient(api).exchange(tokenOf(unopened))).status).toBe(401)
    expect((await other.get('/portal/endpoints')).status).toBe(200)
  })

  it('end when the customer signs out', async () => {
    const browser = portalClient(api)
    await browser.exchange(tokenOf(await link('org_a')))
    await browser.get('/portal/endpoints')
    const out = await browser.post('/portal/logout')
    expect(out.status).toBe(200)
    expect(out.headers.get('set-cookie')).toMatch(/^iwp_session=;/)
    expect((await browser.get('/portal/endpoints')).status).toBe(401)
  })

  it('are required by every page but the opening one', async () => {
    for (const path of [
      '/portal/endpoints',
      '/portal/deliveries',
      '/portal/deliveries/dlv_x',
      '/portal/recoveries/rcv_x',
    ]) {
      const answer = await portalClient(api).get(path)
      expect({ path, status: answer.status }).toEqual({ path, status: 401 })
    }
    expect((await portalClient(api).get('/portal')).status).toBe(200)
  })
})
