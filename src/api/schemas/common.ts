import { z } from 'zod'

// The shapes the API takes and gives, for the TypeScript API and the HTTP API alike: the HTTP
// API validates with these schemas and its OpenAPI document is generated from them. Field names
// are snake_case, as in the webhook payload; times are ISO 8601 strings in UTC.

const ID = /^[A-Za-z0-9_.:-]+$/

// Messages read as the SQL checks' do ("<field> <problem>", webhooks.invalid), so an argument
// refused here reads as one refused there.

const tooLong = (limit: number) => ({
  error: (issue: { input?: unknown }) =>
    `is ${[...String(issue.input)].length} characters long; the limit is ${limit}`,
})

/** An id with record_render_status's rules (webhooks.check_id). */
const id = () =>
  z
    .string()
    .min(1, 'is required')
    .max(200, tooLong(200))
    .regex(ID, 'may contain only letters, digits and _ . : -')

/** An organization's id: the render service's, with record_render_status's rules. */
export const OrgId = id().meta({
  description: "The organization's id, as the render service names it.",
  example: 'org_1',
})

/** An id this project made (ep_…, dlv_…, rcv_…); any other string is simply not found. */
export const ResourceId = id()

/** Messages for the length limits of other strings. */
export { tooLong }

export const EVENT_TYPES = [
  'image.completed',
  'image.failed',
  'video.completed',
  'video.failed',
  'collection.completed',
] as const

export const EventType = z
  .enum(EVENT_TYPES, {
    error: (issue) => `must be one of ${EVENT_TYPES.join(', ')}, got '${String(issue.input)}'`,
  })
  .meta({ id: 'EventType' })

/** What an endpoint subscribes to: an event type, or a family of them ('video.*'). */
export const EventTypePattern = z
  .enum([...EVENT_TYPES, 'image.*', 'video.*', 'collection.*'], {
    error: (issue) =>
      `has unknown event type '${String(issue.input).slice(0, 60)}'; known: ${EVENT_TYPES.join(', ')}, or a family such as video.*`,
  })
  .meta({ id: 'EventTypePattern' })

/** A time given to the API: ISO 8601 with a UTC offset (Z or ±hh:mm); one without is refused. */
export const TimeInput = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 time with an offset, e.g. 2026-05-04T10:00:00Z' })
  .meta({ description: 'ISO 8601 with an offset', example: '2026-05-04T10:00:00Z' })

/** A time the API gives: ISO 8601 in UTC, to the millisecond. */
export const Time = z.iso.datetime().meta({ example: '2026-05-04T10:01:23.456Z' })

export const MAX_PAGE = 100

const cursor = () =>
  z
    .string()
    .min(1, 'is not a cursor this listing gave')
    .max(500, 'is not a cursor this listing gave')
    .optional()

/** Keyset pagination: `after` a page's next_cursor for older rows, `before` its prev_cursor for newer. */
export const PageInput = {
  limit: z.coerce
    .number({ error: 'must be a whole number from 1 to 100' })
    .int('must be a whole number from 1 to 100')
    .min(1, 'must be a whole number from 1 to 100')
    .max(MAX_PAGE, 'must be a whole number from 1 to 100')
    .default(50)
    .meta({ description: 'rows per page (1-100)' }),
  after: cursor().meta({ description: 'next_cursor of the previous page' }),
  before: cursor().meta({ description: 'prev_cursor of the previous page' }),
}

/** A page of rows, and cursors to the rows on either side of it (null: there are none now). */
export function Page<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      data: z.array(item),
      next_cursor: z.string().nullable(),
      prev_cursor: z.string().nullable(),
    })
    .meta({ id })
}

/** A Date as the API gives it. */
export function time(date: Date): string
export function time(date: Date | null): string | null
export function time(date: Date | null): string | null {
  return date === null ? null : date.toISOString()
}
