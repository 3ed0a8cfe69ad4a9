import type { z } from 'zod'
import { toEndpoint } from '../api/endpoint-operations.ts'
import type { EventTypePattern } from '../api/schemas/common.ts'
import type { Endpoint } from '../api/schemas/endpoints.ts'
import { listEndpoints } from '../store/endpoints.ts'
import type { ApiContext } from './api.ts'
import { collect, knownOrg, ownerOf, withApi } from './api.ts'
import type { Command, Io } from './io.ts'
import { actionError, parse, printJson, printTable, required, UsageError } from './io.ts'
import { formatLimits, parseMaxInFlight, parseRateLimit } from './limits.ts'
import { printSecret } from './secrets.ts'

const usage = `imtegrate-webhooks endpoints <action> [options]

  create --org ORG --url URL [--events TYPES] [--description TEXT]
         [--max-in-flight N] [--rate-limit RATE] [--json]
      register an org-level endpoint; prints its id and its whsec_ secret, which is
      shown only this once. TYPES is a comma-separated list of event types
      (image.completed, image.failed, video.completed, video.failed, collection.completed)
      or families of them (video.*); without --events it receives every event of its org.
      N: requests in flight at once to it across all workers (1-1000; default:
      WEBHOOK_DESTINATION_CONCURRENCY). RATE: at most this many requests, such as 50/s
      or 30/m (retries after an outage drain at that pace)
  update EP [--max-in-flight N|default] [--rate-limit RATE|none] [--json]
      change an endpoint's limits
  list [--org ORG] [--json]
      the endpoints that were not deleted (never their secrets), with their limits and
      how they are delivered to now (in flight, due, healthy or backing off)
  disable EP [--reason TEXT] [--json]
      send EP nothing new, and drop its pending retries (replay them later if needed)
  enable EP [--json]
      send to EP again; deliveries dropped meanwhile stay dropped until replayed
  delete EP [--json]
      disable EP for good and hide it from list; its delivery history stays
  rotate-secret EP [--force] [--json]
      give EP a new secret, printed once; the old one keeps signing beside it
      (webhook-signature) for WEBHOOK_SECRET_ROTATION_GRACE (default 24h). Refused while
      the secret a rotation replaced still signs, unless --force, which retires it at once`

type Action = (args: string[], io: Io) => Promise<void>

const actions: Record<string, Action> = {
  create: createAction,
  update: updateAction,
  list: listAction,
  disable: disableAction,
  enable: enableAction,
  delete: deleteAction,
  'rotate-secret': rotateAction,
}

export const endpointsCommand: Command = {
  usage,
  async run(args, io) {
    const [name, ...rest] = args
    const action = name === undefined ? undefined : actions[name]
    if (action === undefined) {
      throw actionError(name)
    }
    await action(rest, io)
  },
}

/** `a, b,,c` -> ['a', 'b', 'c']; which types exist, and repeats, are the API's to check. */
export function splitEventTypes(text: string): string[] {
  const types = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (types.length === 0) {
    throw new UsageError('--events needs at least one event type (leave it out to receive every type)')
  }
  return types
}

async function createAction(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    org: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'string' },
    description: { type: 'string' },
    'max-in-flight': { type: 'string' },
    'rate-limit': { type: 'string' },
    json: { type: 'boolean' },
  })
  const orgId = required(values.org, '--org')
  const url = required(values.url, '--url')
  const limits = readLimits(values)
  const ep = await withApi(io, ({ api }) =>
    api.createEndpoint(orgId, {
      url,
      // As typed: the API says which are event types.
      event_types: values.events === undefined ? undefined : (splitEventTypes(values.events) as EventTypes),
      description: values.description,
      max_in_flight: limits.max_in_flight,
      rate_limit: limits.rate_limit,
    }),
  )
  const { id, org_id, event_types, max_in_flight, rate_limit, secret } = ep
  if (values.json === true) {
    printJson(io, { id, org_id, url: ep.url, event_types, max_in_flight, rate_limit, secret })
    return
  }
  printSecret(io, false, { id, org_id, url: ep.url, events: event_types?.join(',') ?? 'all', secret })
}

type EndpointOut = z.input<typeof Endpoint>
type EventTypes = Array<z.input<typeof EventTypePattern>>

/** With --org, that org's endpoints (the API's listing); without, every org's (an operator's view). */
async function listAction(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { org: { type: 'string' }, json: { type: 'boolean' } })
  const org = values.org
  const endpoints = await withApi(io, async ({ api, db }) => {
    if (org === undefined) {
      return (await listEndpoints(db)).map(toEndpoint)
    }
    await knownOrg(db, org)
    return collect(Number.POSITIVE_INFINITY, (page) => api.listEndpoints(org, page))
  })
  if (values.json === true) {
    printJson(io, endpoints)
    return
  }
  printTable(io, endpoints.map(tableRow), [
    'id',
    'org_id',
    'url',
    'events',
    'state',
    'limits',
    'delivery',
    'description',
  ])
}

function tableRow(ep: EndpointOut): Record<string, unknown> {
  const { delivery } = ep
  return {
    ...ep,
    events: ep.event_types?.join(',') ?? 'all',
    state: ep.enabled ? 'enabled' : `disabled: ${ep.disabled_reason ?? 'no reason given'}`,
    limits: formatLimits(ep.max_in_flight, ep.rate_limit),
    delivery:
      delivery.state === 'healthy'
        ? `healthy, ${delivery.in_flight} in flight, ${delivery.due} due`
        : `backing off until ${delivery.backoff_until ?? '-'}, ${delivery.due} due`,
  }
}

/** --max-in-flight and --rate-limit as given: undefined when left out, null when cleared. */
function readLimits(values: { 'max-in-flight'?: string | undefined; 'rate-limit'?: string | undefined }) {
  return {
    max_in_flight:
      values['max-in-flight'] === undefined ? undefined : parseMaxInFlight(values['max-in-flight']),
    rate_limit: values['rate-limit'] === undefined ? undefined : parseRateLimit(values['rate-limit']),
  }
}

/** The one positional argument: an endpoint id. */
function endpointId(positionals: string[]): string {
  const [id] = positionals
  if (id === undefined) {
    throw new UsageError('missing endpoint id (ep_…)')
  }
  return id
}

/** Runs `fn` for the endpoint `id` names, as its org. */
function withEndpoint<T>(
  io: Io,
  id: string,
  fn: (context: ApiContext, org: string, ref: { endpoint_id: string }) => Promise<T>,
): Promise<T> {
  return withApi(io, async (context) =>
    fn(context, await ownerOf(context, 'endpoint', id), { endpoint_id: id }),
  )
}

function endpointArg(args: string[]) {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1)
  return { id: endpointId(positionals), json: values.json === true }
}

function report(io: Io, json: boolean, result: Record<string, unknown>, text: string): void {
  if (json) {
    printJson(io, result)
  } else {
    io.out(text)
  }
}

async function updateAction(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(
    args,
    { 'max-in-flight': { type: 'string' }, 'rate-limit': { type: 'string' }, json: { type: 'boolean' } },
    1,
  )
  const id = endpointId(positionals)
  const limits = readLimits(values)
  if (limits.max_in_flight === undefined && limits.rate_limit === undefined) {
    throw new UsageError('nothing to change: give --max-in-flight or --rate-limit')
  }
  const ep = await withEndpoint(io, id, ({ api }, org, ref) => api.updateEndpoint(org, { ...ref, ...limits }))
  const shown = { id, max_in_flight: ep.max_in_flight, rate_limit: ep.rate_limit }
  report(io, values.json === true, shown, `updated ${id}: ${formatLimits(ep.max_in_flight, ep.rate_limit)}`)
}

async function disableAction(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { reason: { type: 'string' }, json: { type: 'boolean' } }, 1)
  const id = endpointId(positionals)
  const reason = values.reason ?? 'disabled by an operator'
  const { enabled, dropped } = await withEndpoint(io, id, async ({ api }, org, ref) => {
    const before = await api.getEndpoint(org, ref)
    const result = await api.disableEndpoint(org, { ...ref, reason })
    return { enabled: before.enabled, dropped: result.dropped_deliveries }
  })
  const was = enabled ? '' : ' (it was already disabled)'
  report(
    io,
    values.json === true,
    { id, enabled: false, dropped },
    `disabled ${id}${was}; dropped ${dropped} pending deliveries`,
  )
}

async function enableAction(args: string[], io: Io): Promise<void> {
  const { id, json } = endpointArg(args)
  await withEndpoint(io, id, ({ api }, org, ref) => api.enableEndpoint(org, ref))
  report(io, json, { id, enabled: true }, `enabled ${id}`)
}

async function deleteAction(args: string[], io: Io): Promise<void> {
  const { id, json } = endpointArg(args)
  const { dropped_deliveries: dropped } = await withEndpoint(io, id, ({ api }, org, ref) =>
    api.deleteEndpoint(org, ref),
  )
  report(io, json, { id, deleted: true, dropped }, `deleted ${id}; dropped ${dropped} pending deliveries`)
}

async function rotateAction(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { force: { type: 'boolean' }, json: { type: 'boolean' } }, 1)
  const id = endpointId(positionals)
  const { secret } = await withEndpoint(io, id, ({ api }, org, ref) =>
    api.rotateEndpointSecret(org, { ...ref, force: values.force === true }),
  )
  printSecret(io, values.json === true, { id, secret })
}
