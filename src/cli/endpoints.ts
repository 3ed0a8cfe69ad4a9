import { generateSecret } from '../delivery/sign.ts'
import type { Db } from '../store/database.ts'
import type { EndpointSummary } from '../store/endpoints.ts'
import {
  createEndpoint,
  deleteEndpoint,
  disableEndpoint,
  enableEndpoint,
  findEndpoint,
  listEndpoints,
  rotateEndpointSecret,
} from '../store/endpoints.ts'
import { updateOrgEndpoint } from '../store/org-endpoints.ts'
import { withContext } from './context.ts'
import type { Command, Io } from './io.ts'
import { asUsageError, CommandError, parse, printJson, printTable, required, UsageError } from './io.ts'
import { formatLimits, parseMaxInFlight, parseRateLimit } from './limits.ts'
import { printSecret, stillSigning } from './secrets.ts'

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
      throw new UsageError(name === undefined ? 'missing action' : `unknown action: ${name}`)
    }
    await action(rest, io)
  },
}

/** `a, b,,c` -> ['a', 'b', 'c'], without repeats; which types exist is checked in SQL. */
export function splitEventTypes(text: string): string[] {
  const types = [
    ...new Set(
      text
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    ),
  ]
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
  const eventTypes = values.events === undefined ? null : splitEventTypes(values.events)
  const limits = readLimits(values)
  const secret = generateSecret()
  const id = await withContext(io, async ({ db, box }) => {
    try {
      return await createEndpoint(db, {
        orgId,
        url,
        sealedSecret: box.seal(secret),
        eventTypes,
        description: values.description ?? null,
        maxInFlight: limits.maxInFlight ?? null,
        rateLimit: limits.rateLimit ?? null,
      })
    } catch (error) {
      throw asUsageError(error)
    }
  })
  if (values.json === true) {
    printJson(io, {
      id,
      org_id: orgId,
      url,
      event_types: eventTypes,
      max_in_flight: limits.maxInFlight ?? null,
      rate_limit: limits.rateLimit ?? null,
      secret,
    })
    return
  }
  printSecret(io, false, { id, org_id: orgId, url, events: eventTypes?.join(',') ?? 'all', secret })
}

async function listAction(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { org: { type: 'string' }, json: { type: 'boolean' } })
  const endpoints = await withContext(io, ({ db }) => listEndpoints(db, values.org))
  if (values.json === true) {
    printJson(io, endpoints)
    return
  }
  const rows = endpoints.map((ep) => ({
    ...ep,
    events: ep.event_types?.join(',') ?? 'all',
    state: ep.enabled ? 'enabled' : `disabled: ${ep.disabled_reason ?? 'no reason given'}`,
    limits: formatLimits(ep.max_in_flight, ep.rate_limit),
    delivery:
      ep.delivery_state === 'healthy'
        ? `healthy, ${ep.in_flight} in flight, ${ep.due} due`
        : `backing off until ${ep.backoff_until?.toISOString() ?? '-'}, ${ep.due} due`,
  }))
  printTable(io, rows, ['id', 'org_id', 'url', 'events', 'state', 'limits', 'delivery', 'description'])
}

/** --max-in-flight and --rate-limit as given: undefined when left out, null when cleared. */
function readLimits(values: { 'max-in-flight'?: string | undefined; 'rate-limit'?: string | undefined }) {
  return {
    maxInFlight:
      values['max-in-flight'] === undefined ? undefined : parseMaxInFlight(values['max-in-flight']),
    rateLimit: values['rate-limit'] === undefined ? undefined : parseRateLimit(values['rate-limit']),
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
  if (limits.maxInFlight === undefined && limits.rateLimit === undefined) {
    throw new UsageError('nothing to change: give --max-in-flight or --rate-limit')
  }
  const endpoint = await withContext(io, async ({ db }) => {
    const { org_id } = await existing(db, id)
    try {
      if (!(await updateOrgEndpoint(db, org_id, id, limits))) {
        throw new CommandError(`endpoint ${id} was deleted meanwhile`)
      }
    } catch (error) {
      throw asUsageError(error)
    }
    return existing(db, id)
  })
  const shown = { id, max_in_flight: endpoint.max_in_flight, rate_limit: endpoint.rate_limit }
  report(
    io,
    values.json === true,
    shown,
    `updated ${id}: ${formatLimits(endpoint.max_in_flight, endpoint.rate_limit)}`,
  )
}

/** The endpoint named by the one positional argument; unknown or deleted ids are command errors. */
async function existing(db: Db, id: string): Promise<EndpointSummary> {
  const endpoint = await findEndpoint(db, id)
  if (endpoint === undefined) {
    throw new CommandError(`no endpoint ${id}`)
  }
  if (endpoint.deleted_at !== null) {
    throw new CommandError(`endpoint ${id} was deleted at ${endpoint.deleted_at.toISOString()}`)
  }
  return endpoint
}

/** The one positional argument: an endpoint id. */
function endpointId(positionals: string[]): string {
  const [id] = positionals
  if (id === undefined) {
    throw new UsageError('missing endpoint id (ep_…)')
  }
  return id
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

async function disableAction(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { reason: { type: 'string' }, json: { type: 'boolean' } }, 1)
  const id = endpointId(positionals)
  const reason = values.reason ?? 'disabled by an operator'
  if (reason.trim() === '' || reason.length > 500) {
    throw new UsageError('--reason must be 1 to 500 characters')
  }
  const { endpoint, dropped } = await withContext(io, async ({ db }) => {
    const endpoint = await existing(db, id)
    return { endpoint, dropped: await disableEndpoint(db, id, reason) }
  })
  const was = endpoint.enabled ? '' : ' (it was already disabled)'
  report(
    io,
    values.json === true,
    { id, enabled: false, dropped },
    `disabled ${id}${was}; dropped ${dropped} pending deliveries`,
  )
}

async function enableAction(args: string[], io: Io): Promise<void> {
  const { id, json } = endpointArg(args)
  await withContext(io, async ({ db }) => {
    await existing(db, id)
    if (!(await enableEndpoint(db, id))) {
      throw new CommandError(`endpoint ${id} was deleted meanwhile`)
    }
  })
  report(io, json, { id, enabled: true }, `enabled ${id}`)
}

async function deleteAction(args: string[], io: Io): Promise<void> {
  const { id, json } = endpointArg(args)
  const dropped = await withContext(io, async ({ db }) => {
    await existing(db, id)
    return deleteEndpoint(db, id)
  })
  report(io, json, { id, deleted: true, dropped }, `deleted ${id}; dropped ${dropped} pending deliveries`)
}

async function rotateAction(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { force: { type: 'boolean' }, json: { type: 'boolean' } }, 1)
  const id = endpointId(positionals)
  const secret = generateSecret()
  await withContext(io, async ({ db, box, config }) => {
    await existing(db, id)
    const rotation = await rotateEndpointSecret(
      db,
      id,
      box.seal(secret),
      config.rotationGraceMs,
      values.force,
    )
    if (rotation.result === 'missing') {
      throw new CommandError(`endpoint ${id} was deleted meanwhile`)
    }
    if (rotation.result === 'signing') {
      throw new CommandError(stillSigning(`endpoint ${id}`, rotation.until))
    }
  })
  printSecret(io, values.json === true, { id, secret })
}
