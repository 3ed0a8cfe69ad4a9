import { z } from 'zod'
import { EventType, EventTypePattern, OrgId, PageInput, ResourceId, Time, tooLong } from './common.ts'

/** How the endpoint is being delivered to right now. */
export const DeliveryState = z
  .object({
    state: z.enum(['healthy', 'backing_off']).meta({
      description:
        'backing_off: its recent attempts timed out or could not connect; it gets one request at a time, spaced out, until one is answered',
    }),
    in_flight: z.number().int(),
    due: z.number().int().meta({ description: 'deliveries due now, waiting for their turn' }),
    waiting: z.number().int().meta({ description: 'deliveries waiting for a later retry' }),
    backoff_since: Time.nullable(),
    backoff_until: Time.nullable(),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'DeliveryState' })

export const Endpoint = z
  .object({
    id: z.string().meta({ example: 'ep_0193f1d2a4b5c6d7e8f90a1b2c' }),
    org_id: OrgId,
    url: z.string(),
    description: z.string().nullable(),
    event_types: z.array(EventTypePattern).nullable().meta({ description: 'null: every event type' }),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    disabled_at: Time.nullable(),
    created_at: Time,
    previous_secret_expires_at: Time.nullable().meta({
      description: 'until when the secret a rotation replaced still signs beside the current one',
    }),
    max_in_flight: z.number().int().nullable().meta({
      description: 'requests in flight at once to this endpoint, across all workers; null: the default (10)',
    }),
    rate_limit: z.number().nullable().meta({ description: 'requests per second at most; null: no limit' }),
    delivery: DeliveryState,
  })
  .meta({ id: 'Endpoint' })

/** `whsec_…`: shown only in the answer that creates, rotates or reveals it. */
const Secret = z.string().meta({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })

export const EndpointWithSecret = Endpoint.extend({ secret: Secret }).meta({ id: 'EndpointWithSecret' })

const url = z
  .string()
  .min(1, 'is required')
  .max(2048, tooLong(2048))
  .meta({ example: 'https://your.app/hooks/imtegrate' })
const eventTypes = z
  .array(EventTypePattern)
  .min(1, 'must list at least one event type (leave it out to receive every type)')
  .max(8, 'lists more than 8 event types')
  .nullable()
  .meta({ description: 'event types or families (video.*); null or left out: every type' })
const description = z.string().max(500, tooLong(500)).nullable()
const maxInFlight = z.number().int().min(1).max(1000).nullable().meta({
  description: 'requests in flight at once to this endpoint, across all workers; null: the default',
})
const rateLimit = z.number().positive().max(10_000).nullable().meta({
  description: 'requests per second at most (0.5 is one every two seconds); null: no limit',
})

export const EndpointRef = z.object({ endpoint_id: ResourceId })

export const CreateEndpointInput = z.object({
  url,
  event_types: eventTypes.optional(),
  description: description.optional(),
  max_in_flight: maxInFlight.optional(),
  rate_limit: rateLimit.optional(),
})

export const UpdateEndpointInput = EndpointRef.extend({
  url: url.optional(),
  event_types: eventTypes.optional(),
  description: description.optional(),
  max_in_flight: maxInFlight.optional(),
  rate_limit: rateLimit.optional(),
})

export const ListEndpointsInput = z.object(PageInput)

export const DisableEndpointInput = EndpointRef.extend({
  reason: z
    .string()
    .refine((text) => text.trim() !== '' && [...text].length <= 500, 'must be 1 to 500 characters')
    .optional(),
})

export const DisableResult = z
  .object({ endpoint: Endpoint, dropped_deliveries: z.number().int() })
  .meta({ id: 'DisableResult' })

export const DeleteResult = z
  .object({ id: z.string(), deleted: z.literal(true), dropped_deliveries: z.number().int() })
  .meta({ id: 'DeleteResult' })

export const RotateEndpointSecretInput = EndpointRef.extend({
  force: z.boolean().optional().meta({
    description: 'rotate even while the secret the last rotation replaced still signs (retiring it at once)',
  }),
})

export const RotatedSecret = z
  .object({ secret: Secret, previous_secret_expires_at: Time.nullable() })
  .meta({ id: 'RotatedSecret' })

export const RevealedSecret = z.object({ secret: Secret }).meta({ id: 'RevealedSecret' })

export const SendTestInput = EndpointRef.extend({ event_type: EventType })

export const TestSent = z
  .object({ event_id: z.string(), delivery_id: z.string(), event_type: EventType })
  .meta({ id: 'TestSent' })
