import type { z } from 'zod'
import { WebhookError } from '../errors.ts'
import type { SecretBox } from '../secret-box.ts'
import type { OrgStore } from './org-scope.ts'

/** What every operation may use besides its org's store. */
export type ApiSettings = {
  box: SecretBox
  /** How long a replaced secret keeps signing after a rotation (WEBHOOK_SECRET_ROTATION_GRACE). */
  rotationGraceMs: number
  /** Where the portal is served (WEBHOOK_PORTAL_URL): portal links start with it; unset, they are relative. */
  portalUrl?: string | undefined
}

export type OrgContext = ApiSettings & { store: OrgStore }

/**
 * One operation of the API: its input and output schemas (which the HTTP API validates with and
 * documents) and what it does for one org.
 */
export type Operation<I extends z.ZodObject, O extends z.ZodType> = {
  summary: string
  input: I
  output: O
  run(ctx: OrgContext, input: z.output<I>): Promise<z.input<O>>
}

export function operation<I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>): Operation<I, O> {
  return op
}

/** The one answer for an id that is unknown or another org's: the two are never told apart. */
export function notFound(
  kind: 'endpoint' | 'delivery' | 'recovery' | 'render-webhook secret' | 'portal session',
  id?: string,
) {
  return new WebhookError('NOT_FOUND', id === undefined ? `no ${kind}` : `no ${kind} ${id}`)
}

/** `value`, or the NOT_FOUND error of `kind` when it is undefined. */
export function found<T>(value: T | undefined, kind: Parameters<typeof notFound>[0], id?: string): T {
  if (value === undefined) {
    throw notFound(kind, id)
  }
  return value
}
