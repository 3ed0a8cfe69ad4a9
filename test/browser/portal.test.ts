/// <reference lib="dom" />
import { mkdirSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { TEST_KEY, testApi } from '../helpers/api.ts'
import type { FramingPage } from '../helpers/browser.ts'
import { browserMissing, launchChromium, seriousViolations, startFramingPage } from '../helpers/browser.ts'
import type { TestHttpApi } from '../helpers/http-api.ts'
import { startTestHttpApi } from '../helpers/http-api.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

// The portal in a real headless Chromium (Debian's chromium package, driven by playwright-core):
// what a customer does in Settings → Webhooks, and what an attacker would try. With
// PORTAL_SCREENSHOTS=1 (npm run screenshots) it also saves the screenshots shown in the README.

const missing = browserMissing()
if (missing !== undefined) {
  process.stderr.write(`${missing}\n`)
}

const SCREENSHOTS = process.env['PORTAL_SCREENSHOTS'] === '1'
const HOSTILE = `<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 1">`

const stack = useDeliveryStack({ WEBHOOK_SECRETS_KEY: TEST_KEY, WEBHOOK_REQUEST_TIMEOUT: '10s' })
let api: TestHttpApi
let dashboard: FramingPage
let elsewhere: FramingPage
let browser: Browser
const contexts: BrowserContext[] = []

beforeAll(async () => {
  if (missing !== undefined) {
    return
  }
  dashboard = await startFramingPage()
  elsewhere = await startFramingPage()
  api = await startTestHttpApi(stack.testDb, undefined, { frameAncestors: [dashboard.url] })
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await api?.close()
  await dashboard?.close()
  await elsewhere?.close()
})

async function link(org: string, capabilities?: string[]): Promise<string> {
  const made = await api.request('POST', `/v1/orgs/${org}/portal-links`, {
    body: capabilities === undefined ? {} : { capabilities },
  })
  return (made.body as { url: string }).url
}

/** A new browser profile (no cookie) with a page of it; every request it makes is recorded. */
async function newPage(
  options: { width?: number; height?: number; dark?: boolean } = {},
): Promise<{ page: Page; requests: string[] }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    colorScheme: options.dark === true ? 'dark' : 'light',
  })
  contexts.push(context)
  const page = await context.newPage()
  page.on('dialog', (dialog) => void dialog.accept())
  const requests: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  return { page, requests }
}

/** Opens a portal link as a customer would, and waits for the endpoints page. */
async function open(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.waitForURL(`${api.url}/portal/endpoints`)
}

async function expectAccessible(page: Page): Promise<void> {
  expect({ url: page.url(), violations: await seriousViolations(page) }).toEqual({
    url: page.url(),
    violations: [],
  })
}

async function shoot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) {
    mkdirSync('docs', { recursive: true })
    await page.screenshot({ path: `docs/portal-${name}.png`, fullPage: true })
  }
}

/** Reloads until the page shows `text`, or has an element that `selector` finds. */
async function reloadUntil(page: Page, text: string, selector?: string): Promise<void> {
  await vi.waitFor(
    async () => {
      await page.reload()
      expect(await page.textContent('main')).toContain(text)
      if (selector !== undefined) {
        expect(await page.locator(selector).count()).toBeGreaterThan(0)
      }
    },
    { timeout: 15_000, interval: 300 },
  )
}

beforeEach((ctx) => {
  if (missing !== undefined) {
    ctx.skip(missing)
  }
})

describe('the portal in Chromium', { timeout: 120_000 }, () => {
  let endpointUrl = ''

  it('registers an endpoint, shows its secret once, sends an example that arrives with its attempt', async () => {
    const { page, requests } = await newPage()
    const url = await link('org_w')
    await open(page, url)
    expect(page.url()).not.toContain('#')
    await expectAccessible(page)
    await page.fill('#url', stack.receiver.url('/browser'))
    await page.fill('#description', 'Production receiver')
    await page.check('input[value="video.completed"]')
    await page.check('input[value="video.failed"]')
    await page.click('button:has-text("Register")')
    const secret = await page.inputValue('#secret')
    expect(secret).toMatch(/^whsec_/)
    await page.click('a:has-text("Done")')
    endpointUrl = page.url()
    expect(await page.content()).not.toContain(secret)
    await expectAccessible(page)

    await page.selectOption('#event_type', 'video.failed')
    await page.click('button:has-text("Send example")')
    await page.waitForURL(/\/portal\/deliveries\/dlv_/)
    await reloadUntil(page, 'HTTP 200', '.badge.delivered')
    expect(stack.arrivals('/browser')).toHaveLength(1)
    expect(JSON.parse(stack.arrivals('/browser')[0]?.body ?? '{}')).toMatchObject({ type: 'video.failed' })
    expect(await page.textContent('.badge.delivered')).toBe('Delivered')
    await expectAccessible(page)
    await shoot(page, 'delivery')
    // Nothing but the portal's own origin was asked for anything.
    expect(requests.filter((r) => !r.startsWith(`${api.url}/`))).toEqual([])
  })

  it('shows a hostile answer as text, highlights the dropped delivery, and replays it', async () => {
    stack.receiver.on('/flaky', (n) =>
      n <= 4 ? { status: 500, body: HOSTILE } : { status: 200, body: 'ok' },
    )
    const { page } = await newPage()
    await open(page, await link('org_w'))
    await page.fill('#url', stack.receiver.url('/flaky'))
    await page.click('button:has-text("Register")')
    await page.click('a:has-text("Done")')
    await page.selectOption('#event_type', 'image.completed')
    await page.click('button:has-text("Send example")')
    await page.waitForURL(/\/portal\/deliveries\/dlv_/)
    await reloadUntil(page, 'Dropped', '.badge.dropped')
    const excerpts = page.locator('pre.excerpt')
    expect(await excerpts.first().textContent()).toBe(HOSTILE)
    expect(await page.locator('main img, main script').count()).toBe(0)
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined()
    await expectAccessible(page)

    await page.goto(`${api.url}/portal/deliveries?status=dropped`)
    expect(await page.locator('tr.dropped').count()).toBe(1)
    expect(page.url()).toContain('status=dropped')
    await page.check('input[value="delivered"]')
    await page.click('button:has-text("Filter")')
    expect(page.url()).toContain('status=delivered&status=dropped')
    await expectAccessible(page)
    await shoot(page, 'deliveries')
    await page.click('tr.dropped a')
    await page.click('button:has-text("Replay")')
    await page.waitForURL(/done=replayed/)
    await reloadUntil(page, 'Delivered', '.badge.delivered')
    expect(stack.arrivals('/flaky')).toHaveLength(5)
  })

  it('reads well at phone width and in dark mode', async () => {
    const phone = await newPage({ width: 390, height: 844 })
    await open(phone.page, await link('org_w'))
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await expectAccessible(phone.page)
    await shoot(phone.page, 'phone')
    const dark = await newPage({ dark: true })
    await open(dark.page, await link('org_w'))
    const background = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    expect(background).toBe('rgb(13, 17, 23)')
    await expectAccessible(dark.page)
    await shoot(dark.page, 'endpoints-dark')
    const wide = await newPage()
    await open(wide.page, await link('org_w'))
    await shoot(wide.page, 'endpoints')
    await wide.page.goto(endpointUrl)
    await shoot(wide.page, 'endpoint')
  })

  it('refuses a reused link, an expired session, and a read-only session’s change', async () => {
    const url = await link('org_w')
    const first = await newPage()
    await open(first.page, url)
    const second = await newPage()
    await second.page.goto(url)
    await second.page.waitForURL(`${api.url}/portal/ended`)
    expect(await second.page.textContent('h1')).toBe('This link cannot be opened')

    await stack.testDb.pool.query(
      "update webhooks.portal_sessions set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'",
    )
    await first.page.reload()
    expect(await first.page.textContent('h1')).toBe('Your session has ended')

    const reader = await newPage()
    await open(reader.page, await link('org_w', []))
    await reader.page.goto(endpointUrl)
    expect(await reader.page.locator('button:has-text("Disable")').count()).toBe(0)
    expect(await reader.page.locator('#url').count()).toBe(0)
    const forged = await reader.page.evaluate(async (action) => {
      const csrf = document.querySelector<HTMLInputElement>('input[name="_csrf"]')?.value ?? ''
      const answer = await fetch(action, { method: 'POST', body: new URLSearchParams({ _csrf: csrf }) })
      return answer.status
    }, `${endpointUrl}/disable`)
    expect(forged).toBe(403)
    const id = endpointUrl.split('/').pop() ?? ''
    expect(await testApi(stack.testDb).getEndpoint('org_w', { endpoint_id: id })).toMatchObject({
      enabled: true,
    })
  })

  it('is framed by the dashboard’s origin only', async () => {
    dashboard.set(await link('org_w'))
    const { page } = await newPage()
    await page.goto(dashboard.url)
    const frame = page.frameLocator('iframe')
    await expect.poll(() => frame.locator('h1').textContent(), { timeout: 10_000 }).toBe('Endpoints')
    await expect.poll(() => frame.locator('table a.url').count()).toBeGreaterThan(0)

    const unframed = await link('org_w')
    elsewhere.set(unframed)
    const other = await newPage()
    const refused: string[] = []
    other.page.on('console', (message) => refused.push(message.text()))
    await other.page.goto(elsewhere.url)
    await expect.poll(() => refused.some((text) => text.includes('frame-ancestors'))).toBe(true)
    expect(await other.page.frames()[1]?.content()).not.toContain('webhook portal')
    // The portal's page never ran in that frame: its link was not exchanged, and still opens.
    await open((await newPage()).page, unframed)
  })

  it('answers another org’s ids as unknown ones', async () => {
    const theirs = await testApi(stack.testDb).createEndpoint('org_other', { url: 'https://example.com/o' })
    const { page } = await newPage()
    await open(page, await link('org_w'))
    const answer = await page.goto(`${api.url}/portal/endpoints/${theirs.id}`)
    expect(answer?.status()).toBe(404)
    const text = (await page.textContent('main'))?.replace(theirs.id, 'ID')
    await page.goto(`${api.url}/portal/endpoints/ep_000000000000000000000000000`)
    expect((await page.textContent('main'))?.replace('ep_000000000000000000000000000', 'ID')).toBe(text)
    const disable = await page.evaluate(async (action) => {
      const csrf = document.querySelector<HTMLInputElement>('input[name="_csrf"]')?.value ?? ''
      return (await fetch(action, { method: 'POST', body: new URLSearchParams({ _csrf: csrf }) })).status
    }, `${api.url}/portal/endpoints/${theirs.id}/disable`)
    expect(disable).toBe(404)
    expect(await testApi(stack.testDb).getEndpoint('org_other', { endpoint_id: theirs.id })).toMatchObject({
      enabled: true,
    })
  })
})
