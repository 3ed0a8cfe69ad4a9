import type { DbFacts } from './facts.ts'
import type { Answered2xx } from './receiver.ts'

export type TallyInput = {
  facts: DbFacts
  answered2xx: readonly Answered2xx[]
  /** Render ids the recorder saw commit. */
  confirmed: readonly string[]
  /** Delivery destination (`render_url` or an endpoint id) -> the receiver path it posts to. */
  paths: ReadonlyMap<string, string>
  /** When workers died: SIGKILLs and unplanned exits (ms since the epoch). */
  deaths: readonly number[]
}

export type Tally = {
  events: number
  /** Confirmed by the recorder but absent from the outbox: lost before any delivery. */
  missingEvents: string[]
  expected: number
  delivered: number
  eventsFullyDelivered: number
  lost: string[]
  dropped: Array<{ key: string; lastError: string | null }>
  duplicateIds: number
  duplicateRequests: number
  /** 2xx answers whose delivery id is not the database's id for that (event, destination). */
  idMismatches: string[]
  /** Deliveries still pending or leased when the run ended. */
  undrained: number
  maxRecoveryMs: number | undefined
  medianRecoveryMs: number | undefined
  lostAttempts: number
  unrecovered: number
  liveLeaseExpiries: number
}

const keyOf = (renderId: string, path: string) => `${renderId} ${path}`

/** The database's delivery per (render id, path). */
function deliveriesByKey(input: TallyInput): Map<string, DbFacts['deliveries'][number]> {
  const subject = new Map(input.facts.events.map((e) => [e.id, e.subject_id]))
  const byKey = new Map<string, DbFacts['deliveries'][number]>()
  for (const delivery of input.facts.deliveries) {
    const path = input.paths.get(delivery.destination) ?? `?${delivery.destination}`
    byKey.set(keyOf(subject.get(delivery.event_id) ?? `?${delivery.event_id}`, path), delivery)
  }
  return byKey
}

/** Checks every 2xx answer against the database: one stable id per (event, destination). */
function checkIds(input: TallyInput, byKey: ReturnType<typeof deliveriesByKey>) {
  const answered = new Map<string, Set<string>>()
  const idMismatches: string[] = []
  let duplicateIds = 0
  let duplicateRequests = 0
  for (const answer of input.answered2xx) {
    const key = keyOf(answer.renderId, answer.path)
    const ids = answered.get(key) ?? new Set<string>()
    ids.add(answer.deliveryId)
    answered.set(key, ids)
    if (byKey.get(key)?.id !== answer.deliveryId) {
      idMismatches.push(`${key}: received ${answer.deliveryId}, database has ${byKey.get(key)?.id ?? 'none'}`)
    }
    if (answer.times > 1) {
      duplicateIds++
      duplicateRequests += answer.times - 1
    }
  }
  return { answered, idMismatches, duplicateIds, duplicateRequests }
}

/** Each lost attempt's recovery: from the death of its worker (the first after its claim) to the next attempt. */
function recovery(input: TallyInput) {
  const deaths = [...input.deaths].sort((a, b) => a - b)
  const recoveries: number[] = []
  let unrecovered = 0
  for (const lost of input.facts.lostAttempts) {
    if (lost.retried_at === null) {
      unrecovered++
      continue
    }
    const claimed = lost.claimed_at.getTime()
    const retried = lost.retried_at.getTime()
    // No death in between: the claim itself was lost (its answer cut off by the restart).
    const death = deaths.find((at) => at >= claimed && at <= retried) ?? claimed
    recoveries.push(retried - death)
  }
  recoveries.sort((a, b) => a - b)
  return {
    maxRecoveryMs: recoveries.at(-1),
    medianRecoveryMs: recoveries[Math.floor(recoveries.length / 2)],
    unrecovered,
    lostAttempts: input.facts.lostAttempts.length,
  }
}

/** Sorts every expected (event, destination) into delivered, dropped or lost. */
function checkDestinations(
  renderIds: readonly string[],
  paths: readonly string[],
  byKey: ReturnType<typeof deliveriesByKey>,
  answered: ReadonlyMap<string, Set<string>>,
) {
  const lost: string[] = []
  const dropped: Tally['dropped'] = []
  let delivered = 0
  let eventsFullyDelivered = 0
  for (const renderId of renderIds) {
    let all = true
    for (const path of paths) {
      const key = keyOf(renderId, path)
      const delivery = byKey.get(key)
      if (answered.has(key)) {
        delivered++
        continue
      }
      all = false
      if (delivery?.status === 'dropped') {
        dropped.push({ key, lastError: delivery.last_error })
      } else {
        lost.push(`${key} (${delivery ? `${delivery.id} ${delivery.status}` : 'no delivery row'})`)
      }
    }
    eventsFullyDelivered += all ? 1 : 0
  }
  return { lost, dropped, delivered, eventsFullyDelivered }
}

/**
 * Counts the run. Expected deliveries come from the outbox (every committed event times every
 * destination), delivered ones from the receiver's 2xx answers: the database's own view of
 * what was delivered is only used to name drops and to check ids.
 */
export function tally(input: TallyInput): Tally {
  const byKey = deliveriesByKey(input)
  const ids = checkIds(input, byKey)
  const paths = [...new Set(input.paths.values())]
  const recorded = new Set(input.facts.events.map((e) => e.subject_id))
  const missingEvents = input.confirmed.filter((renderId) => !recorded.has(renderId))
  const renderIds = [...recorded, ...missingEvents]
  return {
    events: recorded.size,
    missingEvents,
    expected: renderIds.length * paths.length,
    ...checkDestinations(renderIds, paths, byKey, ids.answered),
    duplicateIds: ids.duplicateIds,
    duplicateRequests: ids.duplicateRequests,
    idMismatches: ids.idMismatches,
    undrained: input.facts.deliveries.filter((d) => d.status === 'pending' || d.status === 'in_flight')
      .length,
    ...recovery(input),
    liveLeaseExpiries: input.facts.liveLeaseExpiries.length,
  }
}
