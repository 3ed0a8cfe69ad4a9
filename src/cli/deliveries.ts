import type { DeliveryRow, HistoryRow, StatusFilter } from '../store/history.ts'
import { deliveryAttempts, endpointState, getDelivery, listDeliveries, orgExists } from '../store/history.ts'
import { printable } from '../text.ts'
import { withContext } from './context.ts'
import type { Command, Io } from './io.ts'
import { CommandError, parse, printJson, printTable, UsageError } from './io.ts'
import { parseTime } from './time.ts'

const usage = `imtegrate-webhooks deliveries <list|show> [options]

  list [--org ORG] [--endpoint EP] [--status delivered|pending|dropped] [--since T] [--limit N] [--json]
        deliveries, newest first (default limit 50). pending includes deliveries being attempted
        right now. T is an ISO timestamp (2026-05-04T10:00:00Z) or a duration ago (24h, 7d).
  show DLV [--json]
        one delivery and all of its attempts, across replays (REPLAY 0 is the original retry
        budget; REPLAY n starts with the first attempt after the n-th replay)`

const STATUS_FILTERS: readonly StatusFilter[] = ['delivered', 'pending', 'dropped']

export const deliveriesCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action === 'list') {
      await list(rest, io)
    } else if (action === 'show') {
      await show(rest, io)
    } else {
      throw new UsageError(action === undefined ? 'missing action' : `unknown action: ${action}`)
    }
  },
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) {
    return 50
  }
  const limit = Number(text)
  if (!/^\d+$/.test(text) || limit < 1 || limit > 10_000) {
    throw new UsageError(`--limit must be a whole number from 1 to 10000, got "${text}"`)
  }
  return limit
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
  const status = values.status
  if (status !== undefined && !STATUS_FILTERS.includes(status as StatusFilter)) {
    throw new UsageError(`--status must be one of ${STATUS_FILTERS.join(', ')}, got "${status}"`)
  }
  const filter = {
    orgId: values.org,
    endpointId: values.endpoint,
    status: status as StatusFilter | undefined,
    since: values.since === undefined ? undefined : parseTime(values.since, '--since'),
    limit: parseLimit(values.limit),
  }
  const rows = await withContext(io, async ({ db }) => {
    // An empty list for a mistyped id would look like "nothing happened": say so instead.
    if (filter.orgId !== undefined && !(await orgExists(db, filter.orgId))) {
      throw new CommandError(`no org ${filter.orgId}: it has no events, endpoints or secret`)
    }
    if (filter.endpointId !== undefined && (await endpointState(db, filter.endpointId)) === 'missing') {
      throw new CommandError(`no endpoint ${filter.endpointId}`)
    }
    return listDeliveries(db, filter)
  })
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

async function show(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1)
  const [id] = positionals
  if (id === undefined) {
    throw new UsageError('missing delivery id (dlv_…)')
  }
  const found = await withContext(io, async ({ db }) => {
    const delivery = await getDelivery(db, id)
    return delivery && { delivery, attempts: await deliveryAttempts(db, id) }
  })
  if (found === undefined) {
    throw new CommandError(`no delivery ${id}`)
  }
  if (values.json) {
    printJson(io, { ...found.delivery, attempt_log: found.attempts })
    return
  }
  printDelivery(io, found.delivery, found.attempts)
}

function printDelivery(io: Io, d: DeliveryRow, attempts: HistoryRow[]): void {
  const at = (date: Date | null) => date?.toISOString() ?? '-'
  const lines: Array<[string, string]> = [
    ['delivery', d.id],
    ['event', `${d.event_id} (${d.event_type}, ${d.subject_id})`],
    ['org', d.org_id],
    ['destination', `${d.destination} ${d.url}`],
    ['status', d.status],
    ['attempts', `${d.attempts} (replays: ${d.replays})`],
    ['created', at(d.created_at)],
    ['next attempt', at(d.next_attempt_at)],
    ['delivered', at(d.delivered_at)],
    ['dropped', at(d.dropped_at)],
    ['last error', d.last_error ?? '-'],
  ]
  for (const [key, value] of lines) {
    io.out(`${`${key}:`.padEnd(14)}${printable(value)}`)
  }
  io.out('')
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
    io.out(`replay ${a.replay} began with attempt ${a.attempt} at ${a.started_at.toISOString()}`)
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
