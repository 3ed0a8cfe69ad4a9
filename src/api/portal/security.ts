import type { Context, MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import type { PortalCapabilityName } from '../../store/database.ts'
import { messagePage } from './layout.ts'
import type { PortalSession } from './sessions.ts'
import { can, sessionOf, validCsrf } from './sessions.ts'

export type PortalEnv = { Variables: { principal: string; session: PortalSession } }

/**
 * The Content-Security-Policy of every portal answer: nothing but this origin's own script, style
 * and form targets; no inline script or style; framed only by the configured origins.
 */
export function contentSecurityPolicy(frameAncestors: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    `frame-ancestors ${frameAncestors.length === 0 ? "'none'" : frameAncestors.join(' ')}`,
  ].join('; ')
}

/** Headers on every answer of the portal, its assets included. */
export function securityHeaders(frameAncestors: readonly string[]): MiddlewareHandler<PortalEnv> {
  const csp = contentSecurityPolicy(frameAncestors)
  return async (c, next) => {
    await next()
    c.header('content-security-policy', csp)
    if (frameAncestors.length === 0) {
      // For browsers that do not read frame-ancestors; it cannot express an allow-list.
      c.header('x-frame-options', 'DENY')
    }
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with a form's
    // POST, and the portal's own forms would fail the Origin check. Other sites get no Referer.
    c.header('referrer-policy', 'same-origin')
    c.header('x-content-type-options', 'nosniff')
    c.header('cross-origin-resource-policy', 'same-origin')
    c.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()')
    if (!c.req.path.startsWith('/portal/assets/')) {
      c.header('cache-control', 'no-store')
    }
  }
}

/** The portal's own origin: the configured public URL's, else the request's. */
export function portalOrigin(c: Context, portalUrl: string | undefined): string {
  return new URL(portalUrl ?? c.req.url).origin
}

/** Whether the session cookie must be Secure (and is then named __Host-…): the portal is served over https. */
export function secureCookies(c: Context, portalUrl: string | undefined): boolean {
  return portalOrigin(c, portalUrl).startsWith('https:')
}

export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-iwp_session' : 'iwp_session'
}

/**
 * A request that changes something must come from a page of the portal's own origin: its Origin
 * header says so (browsers send it with every POST). Checked before the CSRF token.
 */
export function requireSameOrigin(portalUrl: string | undefined): MiddlewareHandler<PortalEnv> {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin')
      if (origin === undefined || origin !== portalOrigin(c, portalUrl)) {
        return c.html(
          messagePage(
            'Refused',
            'This request did not come from a page of the portal, so nothing was changed.',
          ),
          403,
        )
      }
    }
    await next()
    return undefined
  }
}

/** The session the cookie names, or a page saying there is none; a POST must carry its CSRF token. */
export function requireSession(
  db: Parameters<typeof sessionOf>[0],
  portalUrl: string | undefined,
): MiddlewareHandler<PortalEnv> {
  return async (c, next) => {
    const name = sessionCookieName(secureCookies(c, portalUrl))
    const session = await sessionOf(db, getCookie(c, name))
    if (session === undefined) {
      return c.html(
        messagePage(
          'Your session has ended',
          'It expired or was ended. Open Settings → Webhooks again for a new link.',
        ),
        401,
      )
    }
    c.set('session', session)
    c.set('principal', session.id)
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody({ all: true })
      if (!validCsrf(session, form['_csrf'])) {
        return c.html(
          messagePage(
            'Refused',
            'This form is out of date or did not come from the portal. Nothing was changed.',
            session,
          ),
          403,
        )
      }
    }
    await next()
    return undefined
  }
}

/** The refusal of an action the session's capabilities do not allow, or undefined when they do. */
export function refuseWithout(
  c: Context<PortalEnv>,
  needs: readonly PortalCapabilityName[],
): Response | Promise<Response> | undefined {
  const session = c.get('session')
  const missing = needs.filter((capability) => !can(session, capability))
  if (missing.length === 0) {
    return undefined
  }
  return c.html(
    messagePage(
      'Not allowed',
      session.capabilities.length === 0
        ? 'This session is read-only: it can look, not change, replay or send.'
        : `This session may not do that (it needs: ${missing.join(', ').replaceAll('_', ' ')}).`,
      session,
    ),
    403,
  )
}
