import { WebhookError } from '../errors.ts'
import type { Db } from '../store/database.ts'
import { endpointState, eventExists, orgHasSecret } from '../store/history.ts'
import type { ReplayCandidate, ReplaySelector, SkipReason } from '../store/replay.ts'
import { countMatches, replay, selectCandidates } from '../store/replay.ts'
import { shown } from '../text.ts'
import type { ApiContext } from './api.ts'
import { knownOrg, ownerOf, withApi } from './api.ts'
import type { Command, Io } from './io.ts'
import { CommandError, parse, printJson, printTable, UsageError } from './io.ts'
import { createProgressBar } from './progress.ts'
import { parseRange } from './time.ts'

const usage = `imtegrate-webhooks replay <selector> [--dry-run] [--json]

Selectors (exactly one):
  --delivery DLV                       one delivery (delivered or dropped)
  --event EVT                          every delivery of one event
  --endpoint EP --status dropped [--since T] [--until T]
  --org ORG --status dropped [--since T] [--until T]
                                       the dropped deliveries of an endpoint or an org, created at
                                       or after --since and before --until. T is an ISO timestamp
                                       (2026-05-04T10:00:00Z) or a duration ago (24h, 7d).
Options:
  --dry-run   print what would be replayed; change nothing
  --json      print {matched, replayed, skipped, skipped_by} (with --dry-run: would_replay and the
              deliveries)

A replay sends the same delivery again (same delivery id) with a fresh retry budget. The attempt
log keeps the earlier attempts; the new ones carry the replay number (see \`deliveries show\`).
Not replayed, and counted as skipped:
  - deliveries already pending or being attempted: a replay never starts a second retry chain;
  - deliveries whose destination cannot receive them (a disabled or deleted endpoint, or a
    render URL of an org without a render-webhook secret): the worker would drop them again at
    once. Naming one with --delivery, or such an endpoint with --endpoint, is an error (exit 1).
Bulk replays work in batches of 500, one transaction each, with a progress bar on a terminal. An
interrupted run can simply be run again: it replays only what is still dropped.`

type Values = {
  delivery?: string | undefined
  event?: string | undefined
  endpoint?: string | undefined
  org?: string | undefined
  status?: string | undefined
  since?: string | undefined
  until?: string | undefined
}

/** Turns the flags into one selector; anything ambiguous or missing is a usage error. */
export function toSelector(values: Values, now: Date = new Date()): ReplaySelector {
  const given = (['delivery', 'event', 'endpoint', 'org'] as const).filter((key) => values[key] !== undefined)
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? 'give one of --delivery, --event, --endpoint or --org'
        : `${given.map((key) => `--${key}`).join(' and ')} cannot be combined`,
    )
  }
  const bulk = values.endpoint !== undefined || values.org !== undefined
  if (!bulk) {
    if (values.status !== undefined || values.since !== undefined || values.until !== undefined) {
      throw new UsageError('--status, --since and --until go with --endpoint or --org only')
    }
    return values.delivery !== undefined
      ? { by: 'delivery', deliveryId: values.delivery }
      : { by: 'event', eventId: values.event as string }
  }
  if (values.status !== 'dropped') {
    throw new UsageError(
      values.status === undefined
        ? '--status dropped is required with --endpoint and --org'
        : `only dropped deliveries are replayed in bulk; --status must be dropped, got "${shown(values.status, 40)}"`,
    )
  }
  const range = parseRange(values.since, values.until, now)
  return values.endpoint !== undefined
    ? { by: 'endpoint', endpointId: values.endpoint, ...range }
    : { by: 'org', orgId: values.org as string, ...range }
}

/** Refuses unknown ids, and targets that cannot receive anything, before anything changes. */
async function checkTarget(db: Db, selector: ReplaySelector): Promise<void> {
  switch (selector.by) {
    case 'delivery': {
      const [found] = await selectCandidates(db, selector, '', 1)
      if (found === undefined) {
        throw new CommandError(`no delivery ${shown(selector.deliveryId)}`)
      }
      if (found.skip === 'destination_inactive') {
        throw new CommandError(await inactiveReason(db, found))
      }
      return
    }
    case 'event':
      if (!(await eventExists(db, selector.eventId))) {
        throw new CommandError(`no event ${shown(selector.eventId)}`)
      }
      return
    case 'endpoint':
      return checkEndpoint(db, selector.endpointId)
    case 'org':
      await knownOrg(db, selector.orgId)
  }
}

async function checkEndpoint(db: Db, endpointId: string): Promise<void> {
  const state = await endpointState(db, endpointId)
  if (state === 'missing') {
    throw new CommandError(`no endpoint ${shown(endpointId)}`)
  }
  if (state !== 'active') {
    throw new CommandError(endpointRefusal(endpointId, state))
  }
}

function endpointRefusal(endpointId: string, state: 'disabled' | 'deleted' | 'missing'): string {
  return state === 'disabled'
    ? `endpoint ${endpointId} is disabled, so its deliveries would be dropped again at once; ` +
        `enable it first (imtegrate-webhooks endpoints enable ${endpointId})`
    : `endpoint ${endpointId} was deleted; its deliveries cannot be replayed`
}

async function inactiveReason(db: Db, delivery: ReplayCandidate): Promise<string> {
  if (delivery.endpoint_id !== null) {
    const state = await endpointState(db, delivery.endpoint_id)
    return `delivery ${delivery.id}: ${endpointRefusal(delivery.endpoint_id, state === 'active' ? 'missing' : state)}`
  }
  return (await orgHasSecret(db, delivery.org_id))
    ? `delivery ${delivery.id} cannot be replayed now`
    : `delivery ${delivery.id} goes to a render URL, and org ${delivery.org_id} has no render-webhook secret; ` +
        `create one first (imtegrate-webhooks secrets create --org ${delivery.org_id})`
}

type Outcome = {
  summary: { matched: number; replayed: number; skipped: number }
  skippedBy: Record<SkipReason, number>
  listed: Array<ReplayCandidate & { action: string }>
}

const noneSkipped = (): Record<SkipReason, number> => ({ in_progress: 0, destination_inactive: 0 })

/**
 * One delivery, replayed by the API as its org. One already pending is counted as skipped, as in
 * bulk; one whose destination cannot receive it is refused with what to do about it.
 */
async function replayOne(context: ApiContext, deliveryId: string): Promise<Outcome> {
  const org = await ownerOf(context, 'delivery', deliveryId)
  const skippedBy = noneSkipped()
  try {
    await context.api.replayDelivery(org, { delivery_id: deliveryId })
  } catch (error) {
    const code = error instanceof WebhookError ? error.code : undefined
    if (code === 'DESTINATION_INACTIVE') {
      await checkTarget(context.db, { by: 'delivery', deliveryId })
    }
    if (code !== 'DELIVERY_IN_PROGRESS') {
      throw error
    }
    skippedBy.in_progress = 1
  }
  const replayed = 1 - skippedBy.in_progress
  return { summary: { matched: 1, replayed, skipped: 1 - replayed }, skippedBy, listed: [] }
}

async function run(db: Db, selector: ReplaySelector, dryRun: boolean, io: Io): Promise<Outcome> {
  await checkTarget(db, selector)
  const bulk = selector.by === 'endpoint' || selector.by === 'org'
  const bar = bulk && io.isTTY ? createProgressBar(io, dryRun ? 'checked' : 'replayed') : undefined
  const total = bar === undefined ? 0 : await countMatches(db, selector)
  const skippedBy = noneSkipped()
  const listed: Outcome['listed'] = []
  const summary = await replay(db, selector, {
    dryRun,
    onBatch(batch, replayed, soFar) {
      for (const candidate of batch) {
        // Eligible but not updated: it was replayed (made pending) by someone else meanwhile.
        const skip = replayed.has(candidate.id) ? null : (candidate.skip ?? 'in_progress')
        if (skip !== null) {
          skippedBy[skip]++
        }
        if (dryRun) {
          listed.push({ ...candidate, action: skip === null ? 'replay' : `skip: ${skip}` })
        }
      }
      bar?.update(soFar.matched, Math.max(total, soFar.matched))
    },
  })
  return { summary, skippedBy, listed }
}

export const replayCommand: Command = {
  usage,
  async run(args, io) {
    const { values } = parse(args, {
      delivery: { type: 'string' },
      event: { type: 'string' },
      endpoint: { type: 'string' },
      org: { type: 'string' },
      status: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    })
    const selector = toSelector(values)
    const dryRun = values['dry-run'] === true
    const outcome = await withApi(io, (context) =>
      selector.by === 'delivery' && !dryRun
        ? replayOne(context, selector.deliveryId)
        : run(context.db, selector, dryRun, io),
    )
    if (values.json) {
      printJson(io, jsonReport(outcome, dryRun))
    } else {
      printReport(io, outcome, dryRun)
    }
  },
}

function jsonReport({ summary, skippedBy, listed }: Outcome, dryRun: boolean) {
  if (!dryRun) {
    return { ...summary, skipped_by: skippedBy }
  }
  const deliveries = listed.map(
    ({ id, event_id, event_type, destination, url, status, replays, action }) => ({
      id,
      event_id,
      event_type,
      destination,
      url,
      status,
      replays,
      action,
    }),
  )
  const wouldReplay = summary.matched - summary.skipped
  return { dry_run: true, ...summary, would_replay: wouldReplay, skipped_by: skippedBy, deliveries }
}

function printReport(io: Io, { summary, skippedBy, listed }: Outcome, dryRun: boolean): void {
  const reasons = [
    skippedBy.in_progress > 0 ? `${skippedBy.in_progress} already pending` : '',
    skippedBy.destination_inactive > 0
      ? `${skippedBy.destination_inactive} to a disabled or deleted endpoint or an org without a secret`
      : '',
  ].filter((text) => text !== '')
  const skipped = summary.skipped > 0 ? ` (${summary.skipped} skipped: ${reasons.join(', ')})` : ''
  if (dryRun) {
    if (listed.length > 0) {
      printTable(io, listed, ['id', 'event_type', 'destination', 'status', 'replays', 'action'])
    }
    const would = summary.matched - summary.skipped
    io.out(
      `dry run: would replay ${would} of ${summary.matched} matched deliveries${skipped}; nothing changed`,
    )
    return
  }
  io.out(`replayed ${summary.replayed} of ${summary.matched} matched deliveries${skipped}`)
}
