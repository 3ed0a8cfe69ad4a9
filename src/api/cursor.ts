import type { z } from 'zod'
import { WebhookError } from '../errors.ts'

// Cursors are opaque to callers: a row's place in its listing's order, base64url JSON. A cursor
// holds no filter: the caller passes the same filters with it (as with Stripe's starting_after).

export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url')
}

/** The key in a cursor, or INVALID_ARGUMENT naming `field` when it is not one of `schema`'s. */
export function decodeCursor<T>(text: string, schema: z.ZodType<T>, field: string): T {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    throw new WebhookError('INVALID_ARGUMENT', `${field} is not a cursor this listing gave`, { field })
  }
  return parsed.data
}

export type PageRequest = { limit: number; after?: string | undefined; before?: string | undefined }

export type Paged<R> = { rows: R[]; next_cursor: string | null; prev_cursor: string | null }

/**
 * One page of a keyset listing. `fetch` returns up to `limit` rows strictly past `from` in the
 * direction asked ('next': further along the listing's order; 'prev': back towards its start,
 * nearest first). One row more than the page is fetched to know whether another page follows.
 * A row present when a walk starts is on exactly one of its pages, whatever is added meanwhile.
 */
export async function keysetPage<R, K>(
  request: PageRequest,
  fetch: (direction: 'next' | 'prev', from: K | undefined, limit: number) => Promise<R[]>,
  keys: { schema: z.ZodType<K>; of(row: R): K },
): Promise<Paged<R>> {
  if (request.after !== undefined && request.before !== undefined) {
    throw new WebhookError('INVALID_ARGUMENT', 'give after or before, not both', { field: 'before' })
  }
  const cursor = (row: R | undefined) => (row === undefined ? null : encodeCursor(keys.of(row)))
  if (request.before !== undefined) {
    const from = decodeCursor(request.before, keys.schema, 'before')
    const fetched = await fetch('prev', from, request.limit + 1)
    const rows = fetched.slice(0, request.limit).reverse()
    return {
      rows,
      next_cursor: cursor(rows.at(-1)),
      prev_cursor: fetched.length > request.limit ? cursor(rows[0]) : null,
    }
  }
  const from = request.after === undefined ? undefined : decodeCursor(request.after, keys.schema, 'after')
  const fetched = await fetch('next', from, request.limit + 1)
  const rows = fetched.slice(0, request.limit)
  return {
    rows,
    next_cursor: fetched.length > request.limit ? cursor(rows.at(-1)) : null,
    prev_cursor: from === undefined ? null : cursor(rows[0]),
  }
}
