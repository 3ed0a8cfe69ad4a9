import { z } from 'zod'
import { EventType, OrgId, PageInput, ResourceId, Time, TimeInput } from './common.ts'

export const DeliveryStatusFilter = z
  .enum(['pending', 'delivered', 'dropped'], {
    error: (issue) => `must be pending, delivered or dropped, got '${String(issue.input).slice(0, 40)}'`,
  })
  .meta({
    id: 'DeliveryStatusFilter',
    description: 'pending includes deliveries being attempted right now',
  })

export const Delivery = z
  .object({
    id: z.string().meta({ example: 'dlv_0193f1d2a4b5c6d7e8f90a1b2c' }),
    event_id: z.string(),
    event_type: EventType,
    render_id: z.string().nullable().meta({ description: 'the render or collection; null for a test event' }),
    org_id: OrgId,
    destination: z.string().meta({ description: "an endpoint id, or render_url: the render's own URL" }),
    endpoint_id: z.string().nullable(),
    url: z.string(),
    status: z.enum(['pending', 'in_flight', 'delivered', 'dropped']),
    attempts: z.number().int(),
    replays: z.number().int(),
    next_attempt_at: Time.nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: Time,
    delivered_at: Time.nullable(),
    dropped_at: Time.nullable(),
    test: z.boolean().meta({ description: 'an example sent from the API, not a render event' }),
  })
  .meta({ id: 'Delivery' })

export const Attempt = z
  .object({
    attempt: z.number().int().meta({ description: '1-based, across replays' }),
    replay: z.number().int().meta({ description: '0 for the first retry budget, n from the n-th replay on' }),
    started_at: Time,
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    outcome: z.enum(['delivered', 'retrying', 'dropped', 'lost']),
    response_excerpt: z
      .string()
      .nullable()
      .meta({ description: 'the first 4 KB of the answer, as received' }),
    request_headers: z.record(z.string(), z.string().nullable()).meta({
      description: 'the headers sent; signatures are not kept (null)',
    }),
  })
  .meta({ id: 'Attempt' })

export const DeliveryDetail = Delivery.extend({
  payload: z.unknown().meta({ description: 'the body sent, parsed' }),
  attempt_log: z.array(Attempt),
}).meta({ id: 'DeliveryDetail' })

const several = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item)
    .min(1)
    .max(50)
    .optional()
    .meta({ description: `any of these ${what}` })

export const ListDeliveriesInput = z.object({
  status: several(DeliveryStatusFilter, 'statuses'),
  event_type: several(EventType, 'event types'),
  endpoint_id: several(ResourceId, 'endpoint ids (render_url: the renders’ own URLs)'),
  render_id: several(ResourceId, 'render or collection ids'),
  since: TimeInput.optional().meta({ description: 'made at or after' }),
  until: TimeInput.optional().meta({ description: 'made before' }),
  ...PageInput,
})

export const DeliveryRef = z.object({ delivery_id: ResourceId })

export const ReplayResult = z
  .object({ delivery_id: z.string(), status: z.literal('pending') })
  .meta({ id: 'ReplayResult' })
