import type { Context } from 'hono'
import { z } from 'zod'
import type { ErrorCode } from '../../errors.ts'
import { WebhookError } from '../../errors.ts'

// Errors as RFC 9457 problem details (application/problem+json), each with a stable `code`.

/** Codes of the HTTP layer, beside the API's own (ErrorCode). */
export type HttpProblemCode =
  | 'UNAUTHORIZED'
  | 'ROUTE_NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'MALFORMED_JSON'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INTERNAL'

export type ProblemCode = ErrorCode | HttpProblemCode

const STATUS: Partial<Record<ProblemCode, number>> = {
  INVALID_ARGUMENT: 400,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SECRET_EXISTS: 409,
  SECRET_STILL_SIGNING: 409,
  DELIVERY_IN_PROGRESS: 409,
  DESTINATION_INACTIVE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
}

const TITLES: Partial<Record<ProblemCode, string>> = {
  INVALID_ARGUMENT: 'Invalid request',
  MALFORMED_JSON: 'Malformed JSON body',
  UNAUTHORIZED: 'Missing, invalid or revoked API key',
  NOT_FOUND: 'Not found',
  ROUTE_NOT_FOUND: 'No such route',
  SECRET_EXISTS: 'The secret exists already',
  SECRET_STILL_SIGNING: 'The previous secret still signs',
  DELIVERY_IN_PROGRESS: 'The delivery is in progress',
  DESTINATION_INACTIVE: 'The destination cannot receive it',
  PAYLOAD_TOO_LARGE: 'Request body too large',
  UNSUPPORTED_MEDIA_TYPE: 'The body must be application/json',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency-Key reused with another request',
  INTERNAL: 'Internal error',
}

export const FieldError = z.object({ field: z.string(), message: z.string() })

export const Problem = z
  .object({
    type: z.string().meta({ description: 'names the problem; its last segment is the code' }),
    title: z.string(),
    status: z.number().int(),
    code: z.string().meta({ description: 'stable: branch on this', example: 'NOT_FOUND' }),
    detail: z.string(),
    errors: z.array(FieldError).optional().meta({ description: 'with INVALID_ARGUMENT: each refused field' }),
  })
  .meta({ id: 'Problem' })

export type ProblemBody = z.infer<typeof Problem>

export function problem(
  code: ProblemCode,
  detail: string,
  errors?: z.infer<typeof FieldError>[],
): ProblemBody {
  return {
    type: `urn:imtegrate-webhooks:problem:${code}`,
    title: TITLES[code] ?? code,
    status: STATUS[code] ?? 500,
    code,
    detail,
    ...(errors === undefined ? {} : { errors }),
  }
}

export function sendProblem(c: Context, body: ProblemBody, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(body), body.status as 400, {
    'content-type': 'application/problem+json',
    ...headers,
  })
}

/** Each issue of a failed validation, its field dotted (event_types.0). */
export function fieldErrors(error: z.ZodError): z.infer<typeof FieldError>[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.map(String)
    // A field the schema does not have (a typo would otherwise be ignored): named itself.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: [...at, key].join('.'),
        message: 'is not a field of this request',
      }))
    }
    return [{ field: at.join('.'), message: issue.message }]
  })
}

/** The problem an error thrown by an operation is; undefined for one that is a bug (a 500). */
export function problemOf(error: unknown): ProblemBody | undefined {
  if (!(error instanceof WebhookError) || STATUS[error.code] === undefined) {
    return undefined
  }
  const errors = error.field === undefined ? undefined : [{ field: error.field, message: error.message }]
  return problem(error.code, error.message, errors)
}

/** Every problem status a route may answer with, for the OpenAPI document. */
export const PROBLEM_STATUSES = [400, 401, 404, 409, 413, 415, 422, 500] as const

/** The OpenAPI responses of these problem statuses. */
export function problemResponses(statuses: readonly number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'a problem (RFC 9457)', content: { 'application/problem+json': { schema: Problem } } },
    ]),
  )
}
