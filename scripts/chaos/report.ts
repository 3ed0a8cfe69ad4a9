import type { ReceiverStats } from './receiver.ts'
import type { RecorderStats } from './recorder.ts'
import type { Tally } from './tally.ts'
import type { Exit } from './workers.ts'

export type RunSummary = {
  mode: string
  tally: Tally
  receiver: ReceiverStats
  recorder: RecorderStats
  attemptsByOutcome: Record<string, number>
  kills: number
  unplannedExits: readonly Exit[]
  restartDowntimesMs: readonly number[]
  drained: boolean
  drainMs: number
  forcedStops: number
  totalMs: number
}

const n = (value: number) => value.toLocaleString('en-US')
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const pct = (part: number, whole: number) => (whole === 0 ? '-' : `${((100 * part) / whole).toFixed(2)}%`)

/** Why the run failed; empty when nothing was lost and everything checks out. */
export function problems(s: RunSummary): string[] {
  const t = s.tally
  return [
    t.lost.length > 0 && `${t.lost.length} deliveries lost`,
    t.missingEvents.length > 0 && `${t.missingEvents.length} committed events missing from the outbox`,
    t.idMismatches.length > 0 && `${t.idMismatches.length} answers carried an unexpected delivery id`,
    s.receiver.badSignatures > 0 && `${s.receiver.badSignatures} requests with a bad signature`,
    s.receiver.malformed > 0 && `${s.receiver.malformed} malformed requests`,
    !s.drained && 'the system did not drain in time',
    t.undrained > 0 && `${t.undrained} deliveries still pending or leased at the end`,
    t.unrecovered > 0 && `${t.unrecovered} attempts lost with their worker were never retried`,
  ].filter((line): line is string => typeof line === 'string')
}

/** The result as a Markdown table, ready to paste into docs/reliability.md. */
export function reportTable(s: RunSummary): string {
  const t = s.tally
  const r = s.receiver.byReply
  const rows: Array<[string, string]> = [
    ['mode', s.mode],
    ['events recorded (committed)', n(t.events)],
    ['deliveries expected (events × destinations)', n(t.expected)],
    [
      'deliveries answered 2xx (distinct delivery ids)',
      `${n(t.delivered)} (${pct(t.delivered, t.expected)})`,
    ],
    ['events delivered to every destination', n(t.eventsFullyDelivered)],
    ['**lost**', `**${n(t.lost.length + t.missingEvents.length)}**`],
    ['dropped', n(t.dropped.length)],
    [
      'duplicate deliveries (same id answered 2xx again)',
      `${n(t.duplicateIds)} ids, ${n(t.duplicateRequests)} extra requests`,
    ],
    [
      'delivery id mismatches / bad signatures',
      `${n(t.idMismatches.length)} / ${n(s.receiver.badSignatures)}`,
    ],
    ['workers SIGKILLed', n(s.kills)],
    ['workers that exited by themselves (restarted)', n(s.unplannedExits.length)],
    [
      'PostgreSQL restarts (downtime)',
      `${s.restartDowntimesMs.length} (${s.restartDowntimesMs.map(seconds).join(', ')})`,
    ],
    ['recorder transactions retried', n(s.recorder.retries)],
    [
      'attempts lost with a killed worker (re-attempted)',
      `${n(t.lostAttempts)} (${n(t.lostAttempts - t.unrecovered)})`,
    ],
    [
      'recovery after a kill: max (median)',
      t.maxRecoveryMs === undefined
        ? '-'
        : `${seconds(t.maxRecoveryMs)} (${seconds(t.medianRecoveryMs ?? 0)})`,
    ],
    ['leases that ran out under a live worker (re-sent early)', n(t.liveLeaseExpiries)],
    ['requests at the receiver', n(s.receiver.requests)],
    [
      '  answered 200 / 500 / 429 / slow / reset',
      [r.ok, r.error_500, r.too_many_429, r.slow, r.reset].map(n).join(' / '),
    ],
    [
      'attempts logged (delivered / retrying / lost / dropped)',
      ['delivered', 'retrying', 'lost', 'dropped'].map((o) => n(s.attemptsByOutcome[o] ?? 0)).join(' / '),
    ],
    ['drain after the damage stopped', `${seconds(s.drainMs)}${s.drained ? '' : ' (timed out)'}`],
    ['workers killed at the final graceful stop', n(s.forcedStops)],
    ['total run time', seconds(s.totalMs)],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  return [
    `| ${'measure'.padEnd(width)} | value |`,
    `| ${'-'.repeat(width)} | ----- |`,
    ...rows.map(([label, value]) => `| ${label.padEnd(width)} | ${value} |`),
  ].join('\n')
}

/** Details worth reading when something is off: which deliveries, which exits. */
export function reportDetails(s: RunSummary, limit = 20): string[] {
  const t = s.tally
  const list = (title: string, items: readonly string[]) =>
    items.length === 0 ? [] : [`${title} (${items.length}):`, ...items.slice(0, limit).map((i) => `  ${i}`)]
  return [
    ...list('lost', t.lost),
    ...list('committed but missing from the outbox', t.missingEvents),
    ...list(
      'dropped',
      t.dropped.map((d) => `${d.key}: ${d.lastError ?? ''}`),
    ),
    ...list('delivery id mismatches', t.idMismatches),
    ...list('recorder gave up on (commit unknown)', s.recorder.unconfirmed),
    ...list(
      'workers that exited by themselves',
      s.unplannedExits.map((e) => `pid ${e.pid}: code ${e.code} signal ${e.signal}`),
    ),
    ...list(
      'recorder errors by code',
      Object.entries(s.recorder.errors).map(([code, count]) => `${code}: ${count}`),
    ),
  ]
}
