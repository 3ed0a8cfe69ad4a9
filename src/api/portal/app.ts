import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { deleteCookie, setCookie } from 'hono/cookie'
import { html } from 'hono/html'
import { coerceError } from '../../errors.ts'
import type { PortalOptions } from './context.ts'
import { page, run } from './context.ts'
import { registerDeliveryRoutes } from './delivery-routes.ts'
import { registerEndpointRoutes } from './endpoint-routes.ts'
import { layout, messagePage } from './layout.ts'
import type { PortalEnv } from './security.ts'
import {
  requireSameOrigin,
  requireSession,
  secureCookies,
  securityHeaders,
  sessionCookieName,
} from './security.ts'
import { exchangeLink } from './sessions.ts'

// The embeddable webhook portal, served by `imtegrate-webhooks serve` under /portal: server-rendered
// pages over the org-scoped API, for the org of the session a portal link opened.
// docs/contract.md, section 8.

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8')
const ASSETS: Record<string, { type: string; text: string }> = {
  'portal.css': { type: 'text/css; charset=utf-8', text: asset('portal.css') },
  'portal.js': { type: 'text/javascript; charset=utf-8', text: asset('portal.js') },
}

const FORM_LIMIT = 16 * 1024

export function createPortalApp(options: PortalOptions): Hono<PortalEnv> {
  const app = new Hono<PortalEnv>()
  app.use('*', securityHeaders(options.frameAncestors ?? []))
  app.use(
    '*',
    bodyLimit({
      maxSize: FORM_LIMIT,
      onError: (c) => c.html(messagePage('Too large', 'That form was too large; nothing was changed.'), 413),
    }),
  )
  app.use('*', requireSameOrigin(options.portalUrl))

  app.get('/assets/:name', (c) => {
    const found = ASSETS[c.req.param('name')]
    if (found === undefined) {
      return c.text('not found', 404)
    }
    return c.body(found.text, 200, { 'content-type': found.type, 'cache-control': 'no-cache' })
  })
  app.get('/', (c) =>
    c.html(
      layout({
        title: 'Opening',
        exchange: true,
        body: html`<h1>Opening the webhook portal…</h1><noscript><p>This page needs JavaScript to open its link.</p></noscript>`,
      }),
    ),
  )
  app.post('/session', async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as { token?: unknown } | undefined
    const token = typeof body?.token === 'string' ? body.token : ''
    const session = await exchangeLink(options.db, token)
    if (session === undefined) {
      return c.json({ code: 'LINK_UNUSABLE', detail: 'this link was used already or has expired' }, 401)
    }
    c.set('principal', session.id)
    const secure = secureCookies(c, options.portalUrl)
    setCookie(c, sessionCookieName(secure), session.cookie, {
      httpOnly: true,
      secure,
      sameSite: 'Strict',
      path: '/',
      expires: session.expiresAt,
      maxAge: Math.max(1, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000)),
    })
    options.logger.info({ sessionId: session.id, orgId: session.org }, 'portal session opened')
    return c.body(null, 204)
  })
  app.get('/ended', (c) =>
    c.html(
      messagePage(
        'This link cannot be opened',
        'It was opened already, or it has expired. Open Settings → Webhooks again for a new one.',
      ),
      401,
    ),
  )

  const session = requireSession(options.db, options.portalUrl)
  for (const path of [
    '/endpoints',
    '/endpoints/*',
    '/deliveries',
    '/deliveries/*',
    '/recoveries/*',
    '/logout',
  ]) {
    app.use(path, session)
  }
  registerEndpointRoutes(app, options)
  registerDeliveryRoutes(app, options)
  app.post(
    '/logout',
    page(async (c) => {
      await run(options, c, 'revokePortalSession', { session_id: c.get('session').id })
      deleteCookie(c, sessionCookieName(secureCookies(c, options.portalUrl)), {
        path: '/',
        secure: secureCookies(c, options.portalUrl),
      })
      return c.html(
        messagePage('Signed out', 'This session has ended. Open Settings → Webhooks again for a new one.'),
      )
    }),
  )
  app.all('*', (c) => c.html(messagePage('Not found', 'There is no such page in the portal.'), 404))
  app.onError((error, c) => {
    options.logger.error(
      { err: coerceError(error), method: c.req.method, path: c.req.path },
      'portal request failed',
    )
    return c.html(messagePage('Something went wrong', 'The request failed; it is logged.'), 500)
  })
  return app
}
