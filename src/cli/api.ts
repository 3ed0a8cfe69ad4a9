import { notFound } from '../api/operation.ts'
import { MAX_PAGE } from '../api/schemas/common.ts'
import type { WebhooksApi } from '../api/webhooks-api.ts'
import { createWebhooksApi } from '../api/webhooks-api.ts'
import { WebhookError } from '../errors.ts'
import type { Db } from '../store/database.ts'
import { orgExists, orgOf } from '../store/history.ts'
import { shown } from '../text.ts'
import type { Context } from './context.ts'
import { withContext } from './context.ts'
import type { Io } from './io.ts'
import { asUsageError, CommandError } from './io.ts'

// The commands that act on an org's endpoints, deliveries and secret call the org-scoped API
// (src/api): what is valid, what is found and what is refused is its to say, once. The CLI
// parses arguments, calls it and prints.

export type ApiContext = Context & { api: WebhooksApi }

/** Runs `fn` with the API over an open context. */
export async function withApi<T>(io: Io, fn: (context: ApiContext) => Promise<T>): Promise<T> {
  return withContext(io, async (context) => {
    const { db, box, config } = context
    const api = createWebhooksApi({
      db,
      box,
      rotationGraceMs: config.rotationGraceMs,
      portalUrl: config.portalUrl ?? servedAt(config.apiHost, config.apiPort),
    })
    try {
      return await fn({ ...context, api })
    } catch (error) {
      throw forCommandLine(error)
    }
  })
}

/** Where `serve` listens, as a base URL: where portal links point when WEBHOOK_PORTAL_URL is unset. */
const servedAt = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`

/** The API's error as the command reports it: a refused argument is a usage error (exit 2). */
function forCommandLine(error: unknown): unknown {
  if (error instanceof WebhookError && error.code === 'SECRET_STILL_SIGNING') {
    return new WebhookError(error.code, `${error.message} (--force)`, { cause: error })
  }
  return asUsageError(error)
}

/**
 * The org an endpoint or delivery named by its id alone belongs to: an operator may act for any
 * org, and the API then acts as that org. An unknown id is the API's NOT_FOUND, the id shown
 * escaped and cut, as it was typed.
 */
export async function ownerOf(context: Context, kind: 'endpoint' | 'delivery', id: string): Promise<string> {
  const org = await orgOf(context.db, kind, id)
  if (org === undefined) {
    throw notFound(kind, shown(id))
  }
  return org
}

/**
 * Refuses an org that never recorded an event, registered an endpoint or made a secret: listing
 * it would print nothing, which reads as "nothing happened" (a mistyped id, most likely).
 */
export async function knownOrg(db: Db, org: string): Promise<void> {
  if (!(await orgExists(db, org))) {
    throw new CommandError(`no org ${shown(org)}: it has no events, endpoints or secret`)
  }
}

type Listing<T> = (page: {
  limit: number
  after?: string
}) => Promise<{ data: T[]; next_cursor: string | null }>

/** The rows of a listing page after page (the API gives at most 100 at a time), up to `max`. */
export async function collect<T>(max: number, listing: Listing<T>): Promise<T[]> {
  const rows: T[] = []
  let after: string | undefined
  while (rows.length < max) {
    const page = await listing({
      limit: Math.min(MAX_PAGE, max - rows.length),
      ...(after === undefined ? {} : { after }),
    })
    rows.push(...page.data)
    if (page.next_cursor === null) {
      return rows
    }
    after = page.next_cursor
  }
  return rows
}
