import { z } from 'zod'
import { formatDuration, parseDuration } from '../../duration.ts'
import { ResourceId, Time } from './common.ts'

/**
 * What a portal session may do besides reading: manage_endpoints (register, update, disable,
 * enable, delete, rotate, send an example), replay (replay a delivery, recover since a time),
 * view_secrets (see a secret when it is made, rotated or revealed). None: read-only.
 */
export const PORTAL_CAPABILITIES = ['manage_endpoints', 'replay', 'view_secrets'] as const

export const PortalCapability = z
  .enum(PORTAL_CAPABILITIES, {
    error: (issue) =>
      `must be one of ${PORTAL_CAPABILITIES.join(', ')}, got '${String(issue.input).slice(0, 40)}'`,
  })
  .meta({ id: 'PortalCapability' })

/** Milliseconds in a duration such as 90s, 10m or 1h; undefined for text that is not one. */
export function durationMs(text: string): number | undefined {
  try {
    return parseDuration(text)
  } catch {
    return undefined
  }
}

/** A duration such as 90s, 10m or 1h, from `min` to `max` milliseconds (run() reads it with durationMs). */
const durationBetween = (min: number, max: number, example: string) =>
  z
    .string()
    .max(20, 'is not a duration (use a number and a unit: 90s, 10m, 1h)')
    .refine(
      (text) => durationMs(text) !== undefined,
      'is not a duration (use a number and a unit: 90s, 10m, 1h)',
    )
    .refine(
      (text) => {
        const ms = durationMs(text) ?? 0
        return ms >= min && ms <= max
      },
      `must be from ${formatDuration(min)} to ${formatDuration(max)}`,
    )
    .meta({ example })

export const LINK_TTL = { min: 60_000, max: 3_600_000, default: 600_000 } as const
export const SESSION_TTL = { min: 60_000, max: 3_600_000, default: 3_600_000 } as const

export const CreatePortalLinkInput = z.object({
  ttl: durationBetween(LINK_TTL.min, LINK_TTL.max, '10m')
    .optional()
    .meta({ description: 'how long the link can be opened, once: 1m to 1h (default 10m)' }),
  session_ttl: durationBetween(SESSION_TTL.min, SESSION_TTL.max, '1h')
    .optional()
    .meta({ description: 'how long the session it opens lasts: 1m to 1h (default 1h)' }),
  capabilities: z
    .array(PortalCapability)
    .max(PORTAL_CAPABILITIES.length)
    .optional()
    .meta({ description: 'what the session may change; [] is read-only; left out: all of them' }),
})

export const PortalLink = z
  .object({
    id: z.string().meta({ example: 'pl_0193f1d2a4b5c6d7' }),
    url: z.string().meta({
      description:
        'open it (or use it as an iframe src) once; its secret is after # so it reaches no server log or Referer',
      example: 'https://webhooks.example.com/portal#ipl_0193f1d2a4b5c6d7_…',
    }),
    capabilities: z.array(PortalCapability),
    expires_at: Time,
    session_ttl_seconds: z.number().int(),
  })
  .meta({ id: 'PortalLink' })

export const PortalSession = z
  .object({
    id: z.string().meta({ example: 'ps_0193f1d2a4b5c6d7' }),
    capabilities: z.array(PortalCapability),
    created_at: Time,
    expires_at: Time,
  })
  .meta({ id: 'PortalSession' })

export const PortalSessionList = z.object({ data: z.array(PortalSession) }).meta({ id: 'PortalSessionList' })

export const PortalSessionRef = z.object({ session_id: ResourceId })

export const RevokedSessions = z.object({ revoked: z.number().int() }).meta({ id: 'RevokedSessions' })
