import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Db, PortalCapabilityName } from '../../store/database.ts'
import type { PortalSessionRow } from '../../store/portal.ts'
import { activePortalSession, exchangePortalLink, usableLinkHash } from '../../store/portal.ts'
import { matchesHash, mintToken, parseToken } from '../tokens.ts'

// A portal link (`ipl_…`, single-use) is exchanged for a session (`ips_…`, kept in an HttpOnly
// cookie). Both are stored as hashes only. docs/contract.md, section 8.

export type PortalSession = {
  id: string
  org: string
  capabilities: readonly PortalCapabilityName[]
  expiresAt: Date
  /** The session's secret: the CSRF token of its forms is derived from it. */
  secret: string
}

/**
 * Exchanges a link for a new session: undefined when the link is malformed, unknown, wrong, used
 * or expired (all alike). Of two exchanges of one link, one at most succeeds.
 */
export async function exchangeLink(
  db: Db,
  token: string,
): Promise<(PortalSession & { cookie: string }) | undefined> {
  const link = parseToken('ipl', 'pl', token)
  if (link === undefined || !matchesHash(link.secret, await usableLinkHash(db, link.id))) {
    return undefined
  }
  const minted = mintToken('ips', 'ps')
  const row = await exchangePortalLink(db, link.id, { id: minted.id, secretHash: minted.secretHash })
  if (row === undefined) {
    return undefined
  }
  return { ...toSession(row, minted.secret), cookie: minted.token }
}

/** The open session a cookie names: undefined when malformed, unknown, wrong, expired or revoked. */
export async function sessionOf(db: Db, cookie: string | undefined): Promise<PortalSession | undefined> {
  const parsed = cookie === undefined ? undefined : parseToken('ips', 'ps', cookie)
  if (parsed === undefined) {
    return undefined
  }
  const row = await activePortalSession(db, parsed.id)
  if (row === undefined || !matchesHash(parsed.secret, row.secret_hash)) {
    return undefined
  }
  return toSession(row, parsed.secret)
}

function toSession(row: PortalSessionRow, secret: string): PortalSession {
  return { id: row.id, org: row.org_id, capabilities: row.capabilities, expiresAt: row.expires_at, secret }
}

/** The CSRF token of a session's forms: an HMAC of its secret, so nothing more is stored. */
export function csrfToken(session: Pick<PortalSession, 'secret'>): string {
  return createHmac('sha256', session.secret).update('imtegrate-webhooks portal csrf').digest('base64url')
}

/** Whether a form's token is its session's, compared in constant time. */
export function validCsrf(session: Pick<PortalSession, 'secret'>, given: unknown): boolean {
  if (typeof given !== 'string') {
    return false
  }
  const expected = Buffer.from(csrfToken(session))
  const actual = Buffer.from(given)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

export function can(session: Pick<PortalSession, 'capabilities'>, capability: PortalCapabilityName): boolean {
  return session.capabilities.includes(capability)
}
