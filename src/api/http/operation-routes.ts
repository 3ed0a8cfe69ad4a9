import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi'
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { z } from 'zod'
import type { Db } from '../../store/database.ts'
import { OrgId, ResourceId } from '../schemas/common.ts'
import { callOperation, operations } from '../webhooks-api.ts'
import type { ApiEnv, HttpApiOptions } from './app.ts'
import { idempotent } from './idempotency.ts'
import { PROBLEM_STATUSES, problemResponses, sendProblem } from './problems.ts'
import type { RouteSpec } from './routes.ts'
import { ROUTES } from './routes.ts'

const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'must be 1 to 255 visible ASCII characters')
    .optional()
    .meta({ description: 'the same key (within 24 h) gets the first answer again, without running twice' }),
})

/** A query field that takes several values: ?status=a&status=b (one value arrives as a string). */
function severalInQuery(field: z.ZodType): z.ZodType {
  const inner = field instanceof z.ZodOptional ? field.unwrap() : field
  if (!(inner instanceof z.ZodArray)) {
    return field
  }
  return z
    .preprocess((v) => (typeof v === 'string' ? [v] : v), inner)
    .optional()
    .meta(field.meta() ?? {})
}

/** The route of one operation: its path parameters, then a query (GET, DELETE) or a JSON body. */
function routeOf(spec: RouteSpec): RouteConfig {
  const op = operations[spec.operation]
  const input = op.input as z.ZodObject
  const names = [...spec.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)
  const params = z.object(Object.fromEntries([['org', OrgId], ...names.map((n) => [n, ResourceId])]))
  const rest = Object.fromEntries(Object.entries(input.shape).filter(([key]) => !names.includes(key)))
  const body = { content: { 'application/json': { schema: z.strictObject(rest) } }, required: false }
  const query = z.object(
    Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, severalInQuery(v as z.ZodType)])),
  )
  const request =
    spec.method === 'post'
      ? { params, headers: IdempotencyHeaders, body }
      : spec.method === 'patch'
        ? { params, body }
        : { params, query }
  return createRoute({
    method: spec.method,
    path: `/v1/orgs/{org}${spec.path}`,
    operationId: spec.operation,
    summary: op.summary,
    security: [{ apiKey: [] }],
    request,
    responses: {
      [spec.status]: { description: op.summary, content: { 'application/json': { schema: op.output } } },
      ...problemResponses(PROBLEM_STATUSES),
    },
  })
}

/** Registers every operation's route on `app`. */
export function registerOperationRoutes(app: OpenAPIHono<ApiEnv>, options: HttpApiOptions): void {
  for (const spec of ROUTES) {
    app.openapi(routeOf(spec), ((c: Context<ApiEnv>) => handle(c, spec, options)) as never)
  }
}

type Valid = (target: string) => Record<string, unknown> | undefined

async function handle(c: Context<ApiEnv>, spec: RouteSpec, options: HttpApiOptions): Promise<Response> {
  const valid = (c.req.valid as unknown as Valid).bind(c.req)
  const { org, ...ids } = valid('param') as { org: string }
  const body = spec.method === 'post' || spec.method === 'patch' ? (valid('json') ?? {}) : {}
  const query = spec.method === 'get' || spec.method === 'delete' ? (valid('query') ?? {}) : {}
  const input = { ...query, ...body, ...ids }
  const call = (db: Db) =>
    callOperation(
      {
        db,
        box: options.box,
        rotationGraceMs: options.rotationGraceMs,
        portalUrl: options.portalUrl ?? new URL(c.req.url).origin,
      },
      spec.operation,
      org,
      input,
    )
  const key = spec.method === 'post' ? c.req.header('idempotency-key') : undefined
  if (key === undefined) {
    return c.json(await call(options.db), spec.status)
  }
  const request = { principal: c.get('principal'), key, method: c.req.method, path: c.req.path, body }
  const answer = await idempotent(options.db, options.box, request, async (trx) => ({
    status: spec.status,
    body: await call(trx),
  }))
  if ('code' in answer) {
    return sendProblem(c, answer)
  }
  return c.json(answer.body, answer.status as 200, answer.replayed ? { 'idempotent-replayed': 'true' } : {})
}
