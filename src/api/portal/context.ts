import type { Context } from 'hono'
import type { z } from 'zod'
import { WebhookError } from '../../errors.ts'
import type { Logger } from '../../logger.ts'
import type { SecretBox } from '../../secret-box.ts'
import type { Db, PortalCapabilityName } from '../../store/database.ts'
import { problemOf } from '../http/problems.ts'
import type { OperationName, Operations } from '../webhooks-api.ts'
import { callOperation } from '../webhooks-api.ts'
import { messagePage } from './layout.ts'
import type { PortalEnv } from './security.ts'
import { refuseWithout } from './security.ts'

export type PortalOptions = {
  db: Db
  box: SecretBox
  rotationGraceMs: number
  logger: Logger
  /** The portal's public base URL (WEBHOOK_PORTAL_URL); unset: the request's origin. */
  portalUrl?: string | undefined
  /** Origins allowed to frame the portal (WEBHOOK_PORTAL_FRAME_ANCESTORS); none: no one. */
  frameAncestors?: readonly string[] | undefined
}

export type PortalContext = Context<PortalEnv>

type Output<N extends OperationName> = z.output<Operations[N]['output']>

/**
 * Runs an operation of the org-scoped API for the session's org: the same code the TypeScript
 * and HTTP APIs run. The org comes from the session, never from the request.
 */
export async function run<N extends OperationName>(
  options: PortalOptions,
  c: PortalContext,
  name: N,
  input: Record<string, unknown>,
): Promise<Output<N>> {
  const { db, box, rotationGraceMs, portalUrl } = options
  return (await callOperation(
    { db, box, rotationGraceMs, portalUrl },
    name,
    c.get('session').org,
    input,
  )) as Output<N>
}

/** The page of an operation's refusal (an unknown id, a bad value, a conflict); a bug is thrown on. */
export function refusalPage(c: PortalContext, error: unknown): Response | Promise<Response> {
  const known = error instanceof WebhookError ? problemOf(error) : undefined
  if (known === undefined) {
    throw error
  }
  const title = known.status === 404 ? 'Not found' : known.status === 409 ? 'Not now' : 'Not done'
  return c.html(messagePage(title, known.detail, c.get('session')), known.status as 400)
}

/**
 * Runs a handler if the session has the capabilities it `needs` (else the refusal page, before
 * anything runs); an operation's refusal becomes its page.
 */
export function page(
  handler: (c: PortalContext) => Promise<Response>,
  needs: readonly PortalCapabilityName[] = [],
): (c: PortalContext) => Promise<Response> {
  return async (c) => {
    const refused = refuseWithout(c, needs)
    if (refused !== undefined) {
      return refused
    }
    try {
      return await handler(c)
    } catch (error) {
      return refusalPage(c, error)
    }
  }
}

/** A form field as one string ('' when absent or sent twice). */
export function field(form: Record<string, unknown>, name: string): string {
  const value = form[name]
  return typeof value === 'string' ? value : ''
}

/** A form field or query parameter that may hold several values. */
export function fields(form: Record<string, unknown>, name: string): string[] {
  const value = form[name]
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value]
  return values.filter((v): v is string => typeof v === 'string' && v !== '')
}

/**
 * A time typed into a datetime-local input (no offset: read as UTC, as the label says), or one
 * the portal wrote itself (ISO with an offset); anything else is passed on for the API to refuse.
 */
export function utcTime(text: string): string {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)
    ? `${text.length === 16 ? `${text}:00` : text}Z`
    : text
}

/** The messages shown after an action (the query names one; nothing from the request is shown). */
export const DONE = {
  registered: 'Endpoint registered.',
  disabled:
    'Disabled: it is sent nothing new, and its pending deliveries were dropped (they can be replayed).',
  enabled: 'Enabled: new events are sent to it again.',
  deleted: 'Endpoint deleted.',
  sent: 'The example event is on its way: refresh to see its attempt.',
  replayed: 'Sent again: refresh to see the new attempt.',
} as const

export function doneNotice(c: PortalContext): string | undefined {
  const key = c.req.query('done')
  return key !== undefined && Object.hasOwn(DONE, key) ? DONE[key as keyof typeof DONE] : undefined
}
