import { z } from 'zod'
import { generateSecret } from '../delivery/sign.ts'
import { WebhookError } from '../errors.ts'
import type { EndpointSummary } from '../store/endpoints.ts'
import { keysetPage } from './cursor.ts'
import { EXAMPLE_DATA } from './examples.ts'
import type { OrgContext } from './operation.ts'
import { found, notFound, operation } from './operation.ts'
import { EventTypePattern, Page, time } from './schemas/common.ts'
import {
  CreateEndpointInput,
  DeleteResult,
  DisableEndpointInput,
  DisableResult,
  Endpoint,
  EndpointRef,
  EndpointWithSecret,
  ListEndpointsInput,
  RevealedSecret,
  RotatedSecret,
  RotateEndpointSecretInput,
  SendTestInput,
  TestSent,
  UpdateEndpointInput,
} from './schemas/endpoints.ts'

type EndpointOut = z.input<typeof Endpoint>

export function toEndpoint(row: EndpointSummary): EndpointOut {
  return {
    id: row.id,
    org_id: row.org_id,
    url: row.url,
    description: row.description,
    event_types: row.event_types === null ? null : z.array(EventTypePattern).parse(row.event_types),
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: time(row.disabled_at),
    created_at: time(row.created_at),
    previous_secret_expires_at: time(row.previous_secret_expires_at),
    max_in_flight: row.max_in_flight,
    rate_limit: row.rate_limit,
    delivery: {
      state: row.delivery_state,
      in_flight: row.in_flight,
      due: row.due,
      waiting: row.waiting,
      backoff_since: time(row.backoff_since),
      backoff_until: time(row.backoff_until),
      last_error: row.last_error,
    },
  }
}

const unique = (types: readonly z.output<typeof EventTypePattern>[] | null | undefined) =>
  types === null || types === undefined ? types : [...new Set(types)]

async function current(ctx: OrgContext, id: string): Promise<EndpointOut> {
  return toEndpoint(found(await ctx.store.endpoints.find(id), 'endpoint', id))
}

export const endpointOperations = {
  createEndpoint: operation({
    summary: 'Register an endpoint; its secret is in this answer only',
    input: CreateEndpointInput,
    output: EndpointWithSecret,
    async run(ctx, input) {
      const secret = generateSecret()
      const id = await ctx.store.endpoints.create({
        url: input.url,
        sealedSecret: ctx.box.seal(secret),
        eventTypes: unique(input.event_types) ?? null,
        description: input.description ?? null,
        maxInFlight: input.max_in_flight ?? null,
        rateLimit: input.rate_limit ?? null,
      })
      return { ...(await current(ctx, id)), secret }
    },
  }),

  listEndpoints: operation({
    summary: "The org's endpoints (not deleted), in the order they were made",
    input: ListEndpointsInput,
    output: Page(Endpoint, 'EndpointPage'),
    async run(ctx, input) {
      const page = await keysetPage(
        input,
        (direction, from, limit) => ctx.store.endpoints.list({ direction, from, limit }),
        { schema: z.string(), of: (row) => row.id },
      )
      return { data: page.rows.map(toEndpoint), next_cursor: page.next_cursor, prev_cursor: page.prev_cursor }
    },
  }),

  getEndpoint: operation({
    summary: 'One endpoint',
    input: EndpointRef,
    output: Endpoint,
    run: (ctx, input) => current(ctx, input.endpoint_id),
  }),

  updateEndpoint: operation({
    summary: "Change an endpoint's URL, event types, description or limits",
    input: UpdateEndpointInput,
    output: Endpoint,
    async run(ctx, input) {
      const changed = await ctx.store.endpoints.update(input.endpoint_id, {
        url: input.url,
        eventTypes: unique(input.event_types),
        description: input.description,
        maxInFlight: input.max_in_flight,
        rateLimit: input.rate_limit,
      })
      if (!changed) {
        throw notFound('endpoint', input.endpoint_id)
      }
      return current(ctx, input.endpoint_id)
    },
  }),

  disableEndpoint: operation({
    summary: 'Send an endpoint nothing new, and drop its pending deliveries (they can be replayed)',
    input: DisableEndpointInput,
    output: DisableResult,
    async run(ctx, input) {
      const reason = input.reason ?? 'disabled through the API'
      const dropped = found(
        await ctx.store.endpoints.disable(input.endpoint_id, reason),
        'endpoint',
        input.endpoint_id,
      )
      return { endpoint: await current(ctx, input.endpoint_id), dropped_deliveries: dropped }
    },
  }),

  enableEndpoint: operation({
    summary: 'Send to an endpoint again; deliveries dropped meanwhile stay dropped until replayed',
    input: EndpointRef,
    output: Endpoint,
    async run(ctx, input) {
      if (!(await ctx.store.endpoints.enable(input.endpoint_id))) {
        throw notFound('endpoint', input.endpoint_id)
      }
      return current(ctx, input.endpoint_id)
    },
  }),

  deleteEndpoint: operation({
    summary: 'Disable an endpoint for good and hide it; its delivery history stays',
    input: EndpointRef,
    output: DeleteResult,
    async run(ctx, input) {
      const dropped = found(
        await ctx.store.endpoints.delete(input.endpoint_id),
        'endpoint',
        input.endpoint_id,
      )
      return { id: input.endpoint_id, deleted: true as const, dropped_deliveries: dropped }
    },
  }),

  rotateEndpointSecret: operation({
    summary: "Replace an endpoint's secret; the old one keeps signing beside it for the grace period",
    input: RotateEndpointSecretInput,
    output: RotatedSecret,
    async run(ctx, input) {
      const secret = generateSecret()
      const sealed = ctx.box.seal(secret)
      const rotation = await ctx.store.endpoints.rotateSecret(
        input.endpoint_id,
        sealed,
        ctx.rotationGraceMs,
        input.force === true,
      )
      if (rotation.result === 'missing') {
        throw notFound('endpoint', input.endpoint_id)
      }
      if (rotation.result === 'signing') {
        throw stillSigning(`endpoint ${input.endpoint_id}`, rotation.until)
      }
      const endpoint = await current(ctx, input.endpoint_id)
      return { secret, previous_secret_expires_at: endpoint.previous_secret_expires_at }
    },
  }),

  revealEndpointSecret: operation({
    summary: "An endpoint's current secret",
    input: EndpointRef,
    output: RevealedSecret,
    async run(ctx, input) {
      const sealed = found(await ctx.store.endpoints.secret(input.endpoint_id), 'endpoint', input.endpoint_id)
      return { secret: ctx.box.open(sealed) }
    },
  }),

  sendTestEvent: operation({
    summary: 'Send an example event of a type to one endpoint, marked as a test (X-Imtegrate-Test: true)',
    input: SendTestInput,
    output: TestSent,
    async run(ctx, input) {
      const endpoint = found(await ctx.store.endpoints.find(input.endpoint_id), 'endpoint', input.endpoint_id)
      if (!endpoint.enabled) {
        throw inactive(input.endpoint_id)
      }
      const sent = await ctx.store.endpoints.sendTest(
        input.endpoint_id,
        input.event_type,
        EXAMPLE_DATA[input.event_type],
      )
      if (sent === undefined) {
        // Disabled or deleted since it was looked at.
        throw inactive(input.endpoint_id)
      }
      return { ...sent, event_type: input.event_type }
    },
  }),
}

export function inactive(endpointId: string): WebhookError {
  return new WebhookError(
    'DESTINATION_INACTIVE',
    `endpoint ${endpointId} is disabled: enable it first, or its deliveries are dropped unsent`,
  )
}

/** A second rotation within the grace period of the first. */
export function stillSigning(whose: string, until: Date): WebhookError {
  return new WebhookError(
    'SECRET_STILL_SIGNING',
    `the secret ${whose} had before its last rotation still signs until ${until.toISOString()}; ` +
      'rotating again now would retire it at once, failing receivers that have not switched yet. ' +
      'Wait until then, or rotate with force',
  )
}
