import { z } from 'zod'
import { renderBody } from '../delivery/body.ts'
import { WebhookError } from '../errors.ts'
import type { DeliveryRow } from '../store/history.ts'
import type { OrgDeliveryDetail } from '../store/org-deliveries.ts'
import { keysetPage } from './cursor.ts'
import { found, notFound, operation } from './operation.ts'
import { EventType, Page, time } from './schemas/common.ts'
import {
  Delivery,
  DeliveryDetail,
  DeliveryRef,
  ListDeliveriesInput,
  ReplayResult,
} from './schemas/deliveries.ts'
import { sentHeaders } from './sent-headers.ts'

type DeliveryOut = z.input<typeof Delivery>

/** A test event's subject is not a render: its '#' keeps it apart from every render id. */
const renderId = (row: { subject_id: string; test: boolean }) => (row.test ? null : row.subject_id)

/** A delivery row as the API gives it. */
export function toDelivery(row: DeliveryRow): DeliveryOut {
  return {
    id: row.id,
    event_id: row.event_id,
    event_type: EventType.parse(row.event_type),
    render_id: renderId(row),
    org_id: row.org_id,
    destination: row.destination,
    endpoint_id: row.endpoint_id,
    url: row.url,
    status: row.status,
    attempts: row.attempts,
    replays: row.replays,
    next_attempt_at: time(row.next_attempt_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    created_at: time(row.created_at),
    delivered_at: time(row.delivered_at),
    dropped_at: time(row.dropped_at),
    test: row.test,
  }
}

function toDetail(row: OrgDeliveryDetail): z.input<typeof DeliveryDetail> {
  const body = renderBody({ type: row.event_type, created_at: row.event_created_at, data: row.data })
  return {
    ...toDelivery(row),
    payload: JSON.parse(body) as unknown,
    attempt_log: row.attempt_log.map((a) => ({
      attempt: a.attempt,
      replay: a.replay,
      started_at: time(a.started_at),
      duration_ms: a.duration_ms,
      status_code: a.status_code,
      error: a.error,
      outcome: a.outcome,
      response_excerpt: a.response_excerpt,
      request_headers: sentHeaders({
        deliveryId: row.id,
        eventType: row.event_type,
        attempt: a.attempt,
        startedAt: a.started_at,
        test: row.test,
      }),
    })),
  }
}

const DeliveryKey = z.object({ micros: z.string().regex(/^-?\d{1,20}$/), id: z.string().max(200) })

export const deliveryOperations = {
  listDeliveries: operation({
    summary: "The org's deliveries, newest first, filtered (each filter takes several values)",
    input: ListDeliveriesInput,
    output: Page(Delivery, 'DeliveryPage'),
    async run(ctx, input) {
      const since = input.since === undefined ? undefined : new Date(input.since)
      const until = input.until === undefined ? undefined : new Date(input.until)
      if (since && until && since >= until) {
        throw new WebhookError('INVALID_ARGUMENT', 'since must be before until', { field: 'until' })
      }
      const filters = {
        statuses: input.status,
        eventTypes: input.event_type,
        destinations: input.endpoint_id,
        subjectIds: input.render_id,
        since,
        until,
      }
      const page = await keysetPage(
        input,
        (direction, from, limit) => ctx.store.deliveries.list(filters, { direction, from, limit }),
        { schema: DeliveryKey, of: (row) => row.key },
      )
      return { data: page.rows.map(toDelivery), next_cursor: page.next_cursor, prev_cursor: page.prev_cursor }
    },
  }),

  getDelivery: operation({
    summary: 'One delivery with its payload and every attempt (request headers, answer excerpt)',
    input: DeliveryRef,
    output: DeliveryDetail,
    async run(ctx, input) {
      return toDetail(
        found(await ctx.store.deliveries.find(input.delivery_id), 'delivery', input.delivery_id),
      )
    },
  }),

  replayDelivery: operation({
    summary: 'Send a delivered or dropped delivery again: same id, fresh retry budget',
    input: DeliveryRef,
    output: ReplayResult,
    async run(ctx, input) {
      const id = input.delivery_id
      const result = await ctx.store.deliveries.replay(id)
      if (result === 'missing') {
        throw notFound('delivery', id)
      }
      if (result === 'in_progress') {
        throw new WebhookError(
          'DELIVERY_IN_PROGRESS',
          `delivery ${id} is pending or being attempted; a replay never starts a second retry chain`,
        )
      }
      if (result === 'destination_inactive') {
        throw new WebhookError(
          'DESTINATION_INACTIVE',
          `delivery ${id} cannot be replayed now: its endpoint is disabled or deleted, or its org has no render-webhook secret`,
        )
      }
      return { delivery_id: id, status: 'pending' as const }
    },
  }),
}
