import type { z } from 'zod'
import { toDelivery } from '../api/delivery-operations.ts'
import { notFound } from '../api/operation.ts'
import type { Delivery, DeliveryDetail } from '../api/schemas/deliveries.ts'
import { ListDeliveriesInput } from '../api/schemas/deliveries.ts'
import { invalidInput } from '../api/webhooks-api.ts'
import type { StatusFilter } from '../store/history.ts'
import { listDeliveries } from '../store/history.ts'
import { printable, shown } from '../text.ts'
import type { ApiContext } from './api.ts'
import { collect, knownOrg, ownerOf, withApi } from './api.ts'
import type { Command, Io } from './io.ts'
import { actionError, parse, printJson, printTable, UsageError } from './io.ts'
import { parseTime } from './time.ts'

const usage = `imtegrate-webhooks deliveries <list|show> [options]

  list [--org ORG] [--endpoint EP] [--status delivered|pending|dropped] [--since T] [--limit N] [--json]
        deliveries, newest first (default limit 50). pending includes deliveries being attempted
        right now. T is an ISO timestamp (2026-05-04T10:00:00Z) or a duration ago (24h, 7d).
  show DLV [--json]
        one delivery and all of its attempts, across replays (REPLAY 0 is the original retry
        budget; REPLAY n starts with the first attempt after the n-th replay)`

export const deliveriesCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action === 'list') {
      await list(rest, io)
    } else if (action === 'show') {
      await show(rest, io)
    } else {
      throw actionError(action)
    }
  },
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) {
    return 50
  }
  const limit = Number(text)
  if (!/^\d+$/.test(text) || limit < 1 || limit > 10_000) {
    throw new UsageError(`--limit must be a whole number from 1 to 10000, got "${shown(text, 40)}"`)
  }
  return limit
}

type Row = z.input<typeof Delivery>
type Filters = {
  org?: string | undefined
  endpoint?: string | undefined
  status?: string | undefined
  since?: string | undefined
}

async function list(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    org: { type: 'string' },
    endpoint: { type: 'string' },
    status: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  })
  const limit = parseLimit(values.limit)
  const rows = await withApi(io, (context) => listRows(context, values, limit))
  if (values.json) {
    printJson(io, rows)
    return
  }
  printTable(io, rows, [
    'id',
    'status',
    'event_type',
    'destination',
    'attempts',
    'replays',
    'last_error',
    'created_at',
  ])
}

/**
 * With --org or --endpoint, the API's listing for that org (the endpoint's, when only it is given);
 * with neither, every org's deliveries (an operator's view), filtered as the API's input says.
 */
async function listRows(context: ApiContext, values: Filters, limit: number): Promise<Row[]> {
  const { api, db } = context
  const input = {
    // As typed: the API says which statuses there are.
    status: values.status === undefined ? undefined : [values.status as StatusFilter],
    endpoint_id: values.endpoint === undefined ? undefined : [values.endpoint],
    since: values.since === undefined ? undefined : parseTime(values.since, '--since').toISOString(),
  }
  const org = await scopeOf(context, values)
  if (org !== undefined) {
    return collect(limit, (page) => api.listDeliveries(org, { ...input, ...page }))
  }
  const parsed = ListDeliveriesInput.safeParse(input)
  if (!parsed.success) {
    throw invalidInput(parsed.error)
  }
  const { status, since } = parsed.data
  const rows = await listDeliveries(db, {
    status: status?.[0] as StatusFilter | undefined,
    since: since === undefined ? undefined : new Date(since),
    limit,
  })
  return rows.map(toDelivery)
}

/**
 * The org a listing is for: --org, else the org of --endpoint. An unknown org, or an endpoint that
 * is not the org's, would list nothing, which reads as "nothing happened": each is refused.
 */
async function scopeOf(context: ApiContext, values: Filters): Promise<string | undefined> {
  const { org, endpoint } = values
  if (org !== undefined) {
    await knownOrg(context.db, org)
  }
  if (endpoint === undefined) {
    return org
  }
  const owner = await ownerOf(context, 'endpoint', endpoint)
  if (org !== undefined && owner !== org) {
    throw notFound('endpoint', shown(endpoint))
  }
  return owner
}

async function show(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1)
  const [id] = positionals
  if (id === undefined) {
    throw new UsageError('missing delivery id (dlv_…)')
  }
  const delivery = await withApi(io, async (context) =>
    context.api.getDelivery(await ownerOf(context, 'delivery', id), { delivery_id: id }),
  )
  if (values.json) {
    printJson(io, delivery)
    return
  }
  printDelivery(io, delivery)
}

function printDelivery(io: Io, d: z.output<typeof DeliveryDetail>): void {
  const lines: Array<[string, string]> = [
    ['delivery', d.id],
    ['event', `${d.event_id} (${d.event_type}, ${d.render_id ?? 'a test event'})`],
    ['org', d.org_id],
    ['destination', `${d.destination} ${d.url}`],
    ['status', d.status],
    ['attempts', `${d.attempts} (replays: ${d.replays})`],
    ['created', d.created_at],
    ['next attempt', d.next_attempt_at ?? '-'],
    ['delivered', d.delivered_at ?? '-'],
    ['dropped', d.dropped_at ?? '-'],
    ['last error', d.last_error ?? '-'],
  ]
  for (const [key, value] of lines) {
    io.out(`${`${key}:`.padEnd(14)}${printable(value)}`)
  }
  io.out('')
  const attempts = d.attempt_log
  if (attempts.length === 0) {
    io.out('no attempts yet')
    return
  }
  const rows = attempts.map((a) => ({ ...a, response: oneLine(a.response_excerpt, 40) }))
  printTable(io, rows, [
    'attempt',
    'replay',
    'started_at',
    'duration_ms',
    'status_code',
    'outcome',
    'error',
    'response',
  ])
  const began = attempts.filter((a, i) => a.replay > 0 && a.replay !== attempts[i - 1]?.replay)
  for (const a of began) {
    io.out(`replay ${a.replay} began with attempt ${a.attempt} at ${a.started_at}`)
  }
}

/**
 * `text` on one line (runs of white space made one space), cut to `max` characters (code points,
 * so no emoji is halved) with '…'; null when there is nothing to show.
 */
export function oneLine(text: string | null, max: number): string | null {
  const flat = [...(text ?? '').replace(/\s+/g, ' ').trim()]
  if (flat.length === 0) {
    return null
  }
  return flat.length > max ? `${flat.slice(0, max - 1).join('')}…` : flat.join('')
}
