import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TEST_KEY, testApi } from '../helpers/api.ts'
import { seedDropped } from '../helpers/dropped.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'
import type { PortalClient } from '../helpers/portal.ts'
import { portalClient, tokenOf } from '../helpers/portal.ts'
import { useDeliveryStack } from '../helpers/stack.ts'
import { orgSnapshot } from '../helpers/two-orgs.ts'

const stack = useDeliveryStack({ WEBHOOK_SECRETS_KEY: TEST_KEY, WEBHOOK_REQUEST_TIMEOUT: '10s' })
let api: TestHttpApi
let framed: TestHttpApi

beforeAll(async () => {
  api = await startTestHttpApi(stack.testDb)
  framed = await startTestHttpApi(stack.testDb, undefined, {
    frameAncestors: ['https://app.example.com', 'http://localhost:3000'],
  })
})
afterAll(async () => {
  await api?.close()
  await framed?.close()
})

const HOSTILE = `<script>document.title='pwned'</script>"><img src=x onerror="document.title='pwned'">`

/** A browser signed in to `org`'s portal with these capabilities (all when left out). */
async function signedIn(org: string, capabilities?: string[]): Promise<PortalClient> {
  const made = await api.request('POST', `/v1/orgs/${org}/portal-links`, {
    body: capabilities === undefined ? {} : { capabilities },
  })
  const browser = portalClient(api)
  expect((await browser.exchange(tokenOf((made.body as { url: string }).url))).status).toBe(204)
  expect((await browser.get('/portal/endpoints')).status).toBe(200)
  return browser
}

/**
 * What is stored for an org. Without the count of queued jobs, which is the whole database's: the
 * running worker takes other tests' jobs meanwhile.
 */
async function orgRows(org: string): Promise<unknown> {
  const { jobs: _jobs, ...rows } = (await orgSnapshot(stack.testDb, org)) as Record<string, unknown>
  return rows
}

const idIn = (location: string | null) =>
  /\/portal\/(?:endpoints|deliveries)\/([^/?]+)/.exec(location ?? '')?.[1] ?? ''

describe('the portal pages', () => {
  it('register an endpoint and show its secret once, in that answer only', async () => {
    const browser = await signedIn('org_p')
    const created = await browser.post('/portal/endpoints', {
      url: stack.receiver.url('/p1'),
      description: 'main',
      event_types: ['image.completed', 'video.*'],
    })
    expect(created.status).toBe(200)
    const secret = /value="(whsec_[^"]+)"/.exec(created.text)?.[1] ?? ''
    expect(secret).toMatch(/^whsec_/)
    expect(created.headers.get('cache-control')).toBe('no-store')
    const [endpoint] = (await testApi(stack.testDb).listEndpoints('org_p')).data
    expect(endpoint).toMatchObject({
      url: stack.receiver.url('/p1'),
      event_types: ['image.completed', 'video.*'],
    })
    const pages = [
      await browser.get('/portal/endpoints'),
      await browser.get(`/portal/endpoints/${endpoint?.id}`),
      await browser.get('/portal/deliveries'),
    ]
    for (const page of pages) {
      expect(page.status).toBe(200)
      expect(page.text).not.toContain(secret)
    }
    const rotated = await browser.post(`/portal/endpoints/${endpoint?.id}/rotate`)
    expect(rotated.text).toMatch(/value="whsec_/)
    expect(rotated.text).not.toContain(secret)
  })

  it('send an example that arrives and is listed with its attempt; a hostile answer stays text', async () => {
    stack.receiver.on('/hostile', () => ({ status: 500, body: HOSTILE }))
    const browser = await signedIn('org_x')
    const made = await browser.post('/portal/endpoints', { url: stack.receiver.url('/hostile') })
    const id = /href="\/portal\/endpoints\/([^"]+)">Done/.exec(made.text)?.[1] ?? ''
    await browser.get(`/portal/endpoints/${id}`)
    const sent = await browser.post(`/portal/endpoints/${id}/test`, { event_type: 'video.failed' })
    expect(sent.status).toBe(303)
    const deliveryId = idIn(sent.location)
    await vi.waitFor(() => expect(stack.arrivals('/hostile').length).toBeGreaterThan(0), { timeout: 10_000 })
    expect(stack.arrivals('/hostile')[0]?.headers['x-imtegrate-test']).toBe('true')
    let page = await browser.get(`/portal/deliveries/${deliveryId}`)
    await vi.waitFor(
      async () => {
        page = await browser.get(`/portal/deliveries/${deliveryId}`)
        expect(page.text).toContain('HTTP 500')
      },
      { timeout: 10_000 },
    )
    expect(page.text).not.toContain('<script>document')
    expect(page.text).not.toContain('<img src=x')
    expect(page.text).toContain(
      '&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=',
    )
    // The only script is the portal's own file.
    expect(page.text.match(/<script[^>]*>/g)).toEqual(['<script src="/portal/assets/portal.js" defer>'])
  })

  it('render what a customer typed as text', async () => {
    const browser = await signedIn('org_t')
    await browser.post('/portal/endpoints', {
      url: 'https://example.com/h?a="><script>alert(1)</script>',
      description: HOSTILE,
    })
    const list = await browser.get('/portal/endpoints')
    expect(list.text).not.toContain('<script>alert')
    expect(list.text).not.toContain('<img src=x')
    expect(list.text).toContain('&lt;img src=x onerror=&quot;')
    const refused = await browser.post('/portal/endpoints', { url: `javascript:${HOSTILE}` })
    expect(refused.status).toBe(400)
    expect(refused.text).toContain('Not registered: url')
    expect(refused.text).not.toContain('<img src=x')
  })

  it('highlight dropped deliveries, filter by the URL, and replay one', async () => {
    const browser = await signedIn('org_d')
    const ep = await testApi(stack.testDb).createEndpoint('org_d', { url: stack.receiver.url('/d1') })
    const dropped = await seedDropped(stack.testDb, 'org_d', ep.id, 2)
    const list = await browser.get(`/portal/deliveries?status=dropped&endpoint_id=${ep.id}`)
    expect(list.text.match(/<tr class="dropped">/g)).toHaveLength(2)
    expect(list.text).toContain('value="dropped" checked')
    expect((await browser.get('/portal/deliveries?status=delivered')).text).toContain('No deliveries match')
    await browser.get(`/portal/deliveries/${dropped[0]}`)
    const replayed = await browser.post(`/portal/deliveries/${dropped[0]}/replay`)
    expect(replayed).toMatchObject({
      status: 303,
      location: `/portal/deliveries/${dropped[0]}?done=replayed`,
    })
    await vi.waitFor(() => expect(stack.arrivals('/d1')).toHaveLength(1), { timeout: 10_000 })
    expect(await browser.get(`/portal/endpoints/${ep.id}/recover?since=2000-01-01T00:00`)).toMatchObject({
      status: 200,
      text: expect.stringContaining('<strong>1</strong> dropped delivery'),
    })
    const recovered = await browser.post(`/portal/endpoints/${ep.id}/recover`, {
      since: '2000-01-01T00:00:00.000Z',
    })
    expect(recovered.location).toMatch(/^\/portal\/recoveries\/rcv_/)
    expect((await browser.get(recovered.location ?? '')).text).toContain('1 looked at')
  })
})

describe('capabilities', () => {
  it('keep a read-only session from changing, replaying or sending anything', async () => {
    const ep = await testApi(stack.testDb).createEndpoint('org_ro', { url: stack.receiver.url('/ro') })
    const [dlv] = await seedDropped(stack.testDb, 'org_ro', ep.id, 1)
    const browser = await signedIn('org_ro', [])
    const page = await browser.get(`/portal/endpoints/${ep.id}`)
    expect(page.text).toContain('Read-only')
    expect(page.text).not.toContain('Disable')
    expect((await browser.get('/portal/endpoints')).text).not.toContain('Register an endpoint')
    const before = await orgRows('org_ro')
    const attempts = [
      ['/portal/endpoints', { url: 'https://example.com/new' }],
      [`/portal/endpoints/${ep.id}/disable`, {}],
      [`/portal/endpoints/${ep.id}/delete`, {}],
      [`/portal/endpoints/${ep.id}/rotate`, {}],
      [`/portal/endpoints/${ep.id}/reveal`, {}],
      [`/portal/endpoints/${ep.id}/test`, { event_type: 'image.completed' }],
      [`/portal/endpoints/${ep.id}/recover`, { since: '2000-01-01T00:00:00Z' }],
      [`/portal/deliveries/${dlv}/replay`, {}],
    ] as const
    for (const [path, fields] of attempts) {
      const answer = await browser.post(path, fields)
      expect({ path, status: answer.status }).toEqual({ path, status: 403 })
      expect(answer.text).toContain('This session is read-only')
      expect(answer.text).not.toContain('whsec_')
    }
    expect((await browser.get(`/portal/endpoints/${ep.id}/recover?since=2000-01-01T00:00`)).status).toBe(403)
    expect(await orgRows('org_ro')).toEqual(before)
  })

  it('show secrets only to a session that may view them', async () => {
    const browser = await signedIn('org_nv', ['manage_endpoints', 'replay'])
    const made = await browser.post('/portal/endpoints', { url: 'https://example.com/nv' })
    expect(made).toMatchObject({ status: 303, location: expect.stringMatching(/\?done=registered$/) })
    const page = await browser.get(made.location ?? '')
    expect(page.text).not.toContain('whsec_')
    expect(page.text).not.toContain('Reveal secret')
    for (const action of ['reveal', 'rotate']) {
      const answer = await browser.post(`/portal/endpoints/${idIn(made.location)}/${action}`)
      expect(answer.status).toBe(403)
      expect(answer.text).not.toContain('whsec_')
    }
    expect((await browser.post(`/portal/endpoints/${idIn(made.location)}/disable`)).status).toBe(303)
  })
})

describe('security', () => {
  it('refuses a form without its CSRF token, with another, or from another origin', async () => {
    const ep = await testApi(stack.testDb).createEndpoint('org_c', { url: 'https://example.com/c' })
    const browser = await signedIn('org_c')
    const other = await signedIn('org_c')
    const before = await orgRows('org_c')
    const path = `/portal/endpoints/${ep.id}/disable`
    const refusals = [
      await browser.post(path, {}, { csrf: null }),
      await browser.post(path, {}, { csrf: 'x'.repeat(43) }),
      await browser.post(path, {}, { csrf: other.csrf ?? '' }),
      await browser.post(path, {}, { origin: null }),
      await browser.post(path, {}, { origin: 'https://attacker.example' }),
      await browser.post(path, { _csrf: [browser.csrf ?? '', browser.csrf ?? ''] }, { csrf: null }),
    ]
    expect(refusals.map((r) => r.status)).toEqual([403, 403, 403, 403, 403, 403])
    expect(await orgRows('org_c')).toEqual(before)
    expect((await browser.post(path)).status).toBe(303)
  })

  it('answers another org’s ids exactly as unknown ones, and changes nothing of it', async () => {
    const theirs = await testApi(stack.testDb).createEndpoint('org_b', { url: 'https://example.com/b' })
    const [theirDelivery] = await seedDropped(stack.testDb, 'org_b', theirs.id, 1)
    const before = await orgRows('org_b')
    const browser = await signedIn('org_a2')
    const pairs: Array<
      [string, string, (b: PortalClient, id: string) => Promise<{ status: number; text: string }>]
    > = [
      ['endpoint page', theirs.id, (b, id) => b.get(`/portal/endpoints/${id}`)],
      ['disable', theirs.id, (b, id) => b.post(`/portal/endpoints/${id}/disable`)],
      ['delete', theirs.id, (b, id) => b.post(`/portal/endpoints/${id}/delete`)],
      ['reveal', theirs.id, (b, id) => b.post(`/portal/endpoints/${id}/reveal`)],
      [
        'send',
        theirs.id,
        (b, id) => b.post(`/portal/endpoints/${id}/test`, { event_type: 'image.completed' }),
      ],
      ['recover', theirs.id, (b, id) => b.get(`/portal/endpoints/${id}/recover?since=2000-01-01T00:00`)],
      ['delivery page', theirDelivery ?? '', (b, id) => b.get(`/portal/deliveries/${id}`)],
      ['replay', theirDelivery ?? '', (b, id) => b.post(`/portal/deliveries/${id}/replay`)],
    ]
    for (const [name, id, call] of pairs) {
      const unknownId = `${id.slice(0, 4)}${'0'.repeat(id.length - 4)}`
      const theirsAnswer = await call(browser, id)
      const unknownAnswer = await call(browser, unknownId)
      expect({ name, status: theirsAnswer.status }).toEqual({ name, status: 404 })
      expect(theirsAnswer.text.replaceAll(id, 'ID')).toBe(unknownAnswer.text.replaceAll(unknownId, 'ID'))
    }
    const filtered = await browser.get(`/portal/deliveries?endpoint_id=${theirs.id}`)
    expect(filtered.text).toContain('No deliveries match')
    expect(await orgRows('org_b')).toEqual(before)
  })

  it('sends a strict Content-Security-Policy, and frame-ancestors none unless origins are configured', async () => {
    const page = await portalClient(api).get('/portal')
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).toContain("frame-ancestors 'none'")
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    expect(page.headers.get('referrer-policy')).toBe('same-origin')
    expect(page.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/)
    expect(page.text).not.toMatch(/\sstyle=|\son[a-z]+=/)
    const allowed = await portalClient(framed).get('/portal/endpoints')
    expect(allowed.headers.get('content-security-policy')).toContain(
      'frame-ancestors https://app.example.com http://localhost:3000',
    )
    expect(allowed.headers.get('x-frame-options')).toBeNull()
    const script = await portalClient(api).get('/portal/assets/portal.js')
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(script.headers.get('x-content-type-options')).toBe('nosniff')
  })
})
