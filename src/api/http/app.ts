import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { z } from 'zod'
import { coerceError } from '../../errors.ts'
import type { Logger } from '../../logger.ts'
import type { SecretBox } from '../../secret-box.ts'
import type { Db } from '../../store/database.ts'
import { version } from '../../version.ts'
import { authenticate } from '../api-keys.ts'
import { eventTypeCatalog } from '../examples.ts'
import { createPortalApp } from '../portal/app.ts'
import { EventType } from '../schemas/common.ts'
import { registerOperationRoutes } from './operation-routes.ts'
import type { ProblemBody } from './problems.ts'
import { fieldErrors, problem, problemOf, problemResponses, sendProblem } from './problems.ts'

export type HttpApiOptions = {
  db: Db
  box: SecretBox
  rotationGraceMs: number
  logger: Logger
  /** The largest request body accepted (default 64 KiB). */
  bodyLimitBytes?: number
  /** The portal's public base URL (WEBHOOK_PORTAL_URL); unset: the request's origin. */
  portalUrl?: string | undefined
  /** Origins allowed to frame the portal (WEBHOOK_PORTAL_FRAME_ANCESTORS). */
  frameAncestors?: readonly string[] | undefined
}

/** What the auth middleware found: the caller, as idempotency keys and logs name it. */
export type ApiEnv = { Variables: { principal: string } }

const BODY_LIMIT = 64 * 1024

/**
 * The HTTP API: JSON over REST under /v1/orgs/{org}/..., one route per operation of the
 * org-scoped API, validated with its zod schemas; the OpenAPI 3.1 document at /v1/openapi.json;
 * API keys (Authorization: Bearer iwk_…); RFC 9457 problem details; Idempotency-Key on POSTs.
 */
export function createHttpApp(options: HttpApiOptions): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const errors = fieldErrors(result.error)
        const first = errors[0]
        const detail =
          first === undefined ? 'invalid request' : `${first.field || result.target}: ${first.message}`
        return sendProblem(c, problem('INVALID_ARGUMENT', detail, errors))
      }
      return undefined
    },
  })
  app.use('*', requestLog(options.logger))
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: options.bodyLimitBytes ?? BODY_LIMIT,
      onError: (c) =>
        sendProblem(
          c,
          problem(
            'PAYLOAD_TOO_LARGE',
            `request bodies are limited to ${options.bodyLimitBytes ?? BODY_LIMIT} bytes`,
          ),
        ),
    }),
  )
  const auth = requireApiKey(options.db)
  app.use('/v1/orgs/*', auth)
  app.use('/v1/event-types', auth)
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (iwk_…) made with `imtegrate-webhooks api-keys create`',
  })
  registerOperationRoutes(app, options)
  app.openapi(
    {
      method: 'get',
      path: '/v1/event-types',
      summary: 'The event types, each with when it fires and an example body',
      security: [{ apiKey: [] }],
      responses: {
        200: {
          description: 'the event types the contract defines',
          content: {
            'application/json': {
              schema: z.object({
                data: z.array(z.object({ type: EventType, description: z.string(), example: z.unknown() })),
              }),
            },
          },
        },
        ...problemResponses([401, 500]),
      },
    },
    (c) => c.json({ data: eventTypeCatalog() }, 200),
  )
  app.get('/v1/openapi.json', (c) => c.json(openApiDocument(app)))
  // The portal: HTML for customers' browsers, with its own session cookies, headers and errors.
  app.route('/portal', createPortalApp(options) as unknown as OpenAPIHono<ApiEnv>)
  app.notFound((c) => sendProblem(c, problem('ROUTE_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)))
  app.onError((error, c) => sendProblem(c, thrownProblem(error, c, options.logger)))
  return app
}

/** The OpenAPI 3.1 document, generated from the routes' zod schemas. */
export function openApiDocument(app: OpenAPIHono<ApiEnv>) {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'imtegrate-webhooks',
      version,
      description:
        "The org-scoped management API of imtegrate-webhooks: endpoints, deliveries, replays, recoveries, example events and the org's render-webhook secret. Rules (auth, errors, pagination, idempotency): docs/contract.md section 7.",
    },
  })
}

function thrownProblem(error: unknown, c: Context, logger: Logger): ProblemBody {
  const known = problemOf(error)
  if (known !== undefined) {
    return known
  }
  if (error instanceof HTTPException) {
    if (error.status === 400) {
      return problem('MALFORMED_JSON', error.message || 'the body is not valid JSON')
    }
    if (error.status === 413) {
      return problem('PAYLOAD_TOO_LARGE', 'the request body is too large')
    }
    if (error.status === 415) {
      return problem('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json')
    }
  }
  logger.error({ err: coerceError(error), method: c.req.method, path: c.req.path }, 'API request failed')
  return problem('INTERNAL', 'the request failed; it is logged')
}

/**
 * Authorization: Bearer <API key>. Missing, malformed, unknown, wrong and revoked keys all get
 * the same 401. The key is never logged; the caller is known by its key's id from here on.
 */
function requireApiKey(db: Db): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? ''
    const token = /^Bearer (\S+)$/i.exec(header)?.[1]
    const keyId = token === undefined ? undefined : await authenticate(db, token)
    if (keyId === undefined) {
      return sendProblem(c, problem('UNAUTHORIZED', 'send a valid API key: Authorization: Bearer iwk_…'), {
        'www-authenticate': 'Bearer',
      })
    }
    c.set('principal', keyId)
    await next()
    return undefined
  }
}

/** One line per request: method, path (without its query), status, duration, caller. Never headers or bodies. */
function requestLog(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now()
    await next()
    logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round(performance.now() - started),
        keyId: c.get('principal'),
      },
      'api request',
    )
  }
}
