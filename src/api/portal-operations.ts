import type { z } from 'zod'
import { notFound, operation } from './operation.ts'
import { time } from './schemas/common.ts'
import {
  CreatePortalLinkInput,
  durationMs,
  LINK_TTL,
  PORTAL_CAPABILITIES,
  PortalLink,
  PortalSessionList,
  PortalSessionRef,
  RevokedSessions,
  SESSION_TTL,
} from './schemas/portal.ts'
import { mintToken } from './tokens.ts'

/** The portal's path; a link is this, then `#` and its token. */
export const PORTAL_PATH = '/portal'

const NoInput = CreatePortalLinkInput.pick({})

type SessionOut = z.input<typeof PortalSessionList>['data'][number]

// Links to the embeddable portal, and the sessions they open (docs/contract.md, section 8).

export const portalOperations = {
  createPortalLink: operation({
    summary: 'A single-use link to the webhook portal for this org; its secret is after # in the URL',
    input: CreatePortalLinkInput,
    output: PortalLink,
    async run(ctx, input) {
      const capabilities = [...new Set(input.capabilities ?? PORTAL_CAPABILITIES)]
      const ttlMs = input.ttl === undefined ? LINK_TTL.default : (durationMs(input.ttl) ?? LINK_TTL.default)
      const sessionMs =
        input.session_ttl === undefined
          ? SESSION_TTL.default
          : (durationMs(input.session_ttl) ?? SESSION_TTL.default)
      const minted = mintToken('ipl', 'pl')
      const sessionSeconds = Math.floor(sessionMs / 1000)
      const row = await ctx.store.portal.createLink({
        id: minted.id,
        secretHash: minted.secretHash,
        capabilities,
        ttlMs,
        sessionSeconds,
      })
      return {
        id: minted.id,
        url: `${(ctx.portalUrl ?? '').replace(/\/+$/, '')}${PORTAL_PATH}#${minted.token}`,
        capabilities,
        expires_at: time(row.expires_at),
        session_ttl_seconds: sessionSeconds,
      }
    },
  }),

  listPortalSessions: operation({
    summary: "The org's portal sessions that are open now (not expired, not revoked), newest first",
    input: NoInput,
    output: PortalSessionList,
    async run(ctx) {
      const rows = await ctx.store.portal.sessions()
      return {
        data: rows.map(
          (row): SessionOut => ({
            id: row.id,
            capabilities: row.capabilities,
            created_at: time(row.created_at),
            expires_at: time(row.expires_at),
          }),
        ),
      }
    },
  }),

  revokePortalSession: operation({
    summary: 'End one portal session at once',
    input: PortalSessionRef,
    output: RevokedSessions,
    async run(ctx, input) {
      if (!(await ctx.store.portal.revokeSession(input.session_id))) {
        throw notFound('portal session', input.session_id)
      }
      return { revoked: 1 }
    },
  }),

  revokePortalSessions: operation({
    summary: 'End every portal session of the org at once, and void its links not opened yet',
    input: NoInput,
    output: RevokedSessions,
    async run(ctx) {
      return { revoked: await ctx.store.portal.revokeAll() }
    },
  }),
}
