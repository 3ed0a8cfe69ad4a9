import { readFile, writeFile } from 'node:fs/promises'
import type { RssDrainResult } from './backlog.ts'
import type { LatencyResult } from './latency.ts'
import type { RecordingRates } from './recording.ts'
import type { DrainResult } from './throughput.ts'

export type Results = {
  recording: RecordingRates[]
  recordingAlone: RecordingRates[]
  latency: LatencyResult
  /** Latency of a healthy org beside ten destinations that never answer, each with a backlog. */
  besideHanging: LatencyResult & { hanging: number }
  /** Destinations of the drains over many. */
  destinations: number
  /**
   * The target drains, in alternated rounds: one destination allowing 64 in flight, 10
   * endpoints, many destinations that have delivered before; the peer's, one more than rounds.
   */
  rounds: { single: DrainResult[]; ten: DrainResult[]; many: DrainResult[]; naive: DrainResult[] }
  /** One destination at the default cap. */
  capped: DrainResult
  /** Over many destinations never seen before: their send windows start at one. */
  manyNew: DrainResult
  /** `single` and `many` again from where the peer starts: the deliveries fanned out and due. */
  singleDue: DrainResult
  manyDue: DrainResult
  metrics: Array<{ on: boolean; latency: LatencyResult; drain: DrainResult; scrapes: number }>
  backlogRetries: number
  backlogLatency: LatencyResult
  drain: RssDrainResult & { planned: number }
  emptyJobs: { default: number; localQueue: number; concurrency: number }
  rawHttp: { perSecond: number; inFlight: number }
}

export type Row = { label: string; measured: string; target: string; result: string }

/** The first words of every row, in order: the test checks that a run prints each of them. */
export const ROW_LABELS = [
  'Recording overhead, 8 clients',
  'Recording overhead, 32 clients',
  'The event row alone, 8 clients',
  'The event row alone, 32 clients',
  'Recording with a worker draining, 8 clients',
  'Recording with a worker draining, 32 clients',
  'Latency p50',
  'Latency p99',
  'Latency p99 beside 10 hanging destinations',
  'Throughput, 1 destination',
  'Throughput, 10 destinations',
  'Throughput, 1,000 destinations',
  'Throughput, 1,000 new destinations',
  'Throughput, 1 destination, from due deliveries',
  'Throughput, 1,000 destinations, from due deliveries',
  'Throughput, 1 destination at the default cap',
  'Metrics on vs off, throughput',
  'Metrics on vs off, latency p99',
  'Backlog latency p99',
  'Backlog worker RSS',
  'Cost per delivery, node',
  'Cost per delivery, postgres',
  'Baseline: plain transaction, 8 clients',
  'Baseline: plain transaction, 32 clients',
  'Baseline: add_job per event, 8 clients',
  'Baseline: add_job per event, 32 clients',
  'Baseline: naive dispatcher',
  'Baseline: graphile-worker empty jobs, defaults',
  'Baseline: graphile-worker empty jobs, local queue',
  'Baseline: raw HTTP',
] as const

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'never')
const mb = (bytes: number) => `${Math.round(bytes / 1_048_576)} MB`
const x = (n: number) => `${n.toFixed(2)}×`
const verdict = (ok: boolean) => (ok ? 'pass' : '**FAIL**')

// The target is what recording adds to the render service's transaction, measured with no
// worker process on these two cores (a pool row advertises polling, so recorders skip NOTIFY as
// they do in production). In production the worker's node CPU is not on the database server;
// here it would take the same cores, so the run with a worker draining is shown for context.
function recordingRows(withWorker: RecordingRates[], alone: RecordingRates[]) {
  const targets: Row[] = []
  const context: Row[] = []
  const baselines: Row[] = []
  const floor: Row[] = []
  for (const { clients, commitsPerSecond: c } of alone) {
    const plain = c.plain ?? Number.NaN
    const ratio = (c.record ?? Number.NaN) / plain
    targets.push({
      label: `Recording overhead, ${clients} clients`,
      measured: `${x(ratio)} (${int(c.record ?? Number.NaN)} vs ${int(plain)} commits/s)`,
      target: '≥ 0.50×',
      result: verdict(ratio >= 0.5),
    })
    floor.push({
      label: `The event row alone, ${clients} clients`,
      measured: `${x((c.row ?? Number.NaN) / plain)} (${int(c.row ?? Number.NaN)} commits/s: its INSERT … ON CONFLICT DO NOTHING as one more statement, no function)`,
      target: 'context',
      result: '',
    })
  }
  for (const { clients, commitsPerSecond: c } of withWorker) {
    const plain = c.plain ?? Number.NaN
    context.push({
      label: `Recording with a worker draining, ${clients} clients`,
      measured: `${x((c.record ?? Number.NaN) / plain)} (${int(c.record ?? Number.NaN)} vs ${int(plain)} commits/s; the worker shares the 2 cores)`,
      target: 'context',
      result: '',
    })
    baselines.push(
      {
        label: `Baseline: plain transaction, ${clients} clients`,
        measured: `${int(plain)} commits/s`,
        target: '—',
        result: 'baseline',
      },
      {
        label: `Baseline: add_job per event, ${clients} clients`,
        measured: `${int(c.add_job ?? Number.NaN)} commits/s = ${x((c.add_job ?? Number.NaN) / plain)}`,
        target: '—',
        result: 'why not',
      },
    )
  }
  return { targets: [...targets, ...floor, ...context], baselines }
}

function latencyRows(r: Results): Row[] {
  const of = (l: LatencyResult) => `${int(l.sent)} events at ${int(l.rate)}/s, ${int(l.arrived)} arrived`
  const h = r.besideHanging
  return [
    {
      label: 'Latency p50',
      measured: `${ms(r.latency.p50)} (${of(r.latency)})`,
      target: '≤ 15 ms',
      result: verdict(r.latency.p50 <= 15),
    },
    {
      label: 'Latency p99',
      measured: `${ms(r.latency.p99)} (max ${ms(r.latency.max)})`,
      target: '≤ 60 ms',
      result: verdict(r.latency.p99 <= 60),
    },
    {
      label: 'Latency p99 beside 10 hanging destinations',
      measured: `${ms(h.p99)} (p50 ${ms(h.p50)}, ${of(h)}; 10 orgs' receivers never answer, ${int(h.hanging)} deliveries queued for them)`,
      target: '≤ 60 ms',
      result: verdict(h.p99 <= 60),
    },
  ]
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/** Each figure of a side's drains is its median over the rounds. */
function medianDrain(drains: DrainResult[]): DrainResult {
  const of = (pick: (d: DrainResult) => number) => median(drains.map(pick))
  return {
    deliveries: of((d) => d.deliveries),
    ms: of((d) => d.ms),
    perSecond: of((d) => d.perSecond),
    nodeUsPerDelivery: of((d) => d.nodeUsPerDelivery),
    pgUsPerDelivery: of((d) => d.pgUsPerDelivery),
    rssBytes: of((d) => d.rssBytes),
    xactsPerDelivery: of((d) => d.xactsPerDelivery),
  }
}

/** The rounds' drains of each side, and each side's median drain. */
type Sides = Record<keyof Results['rounds'], { drains: DrainResult[]; median: DrainResult }>

function sides(rounds: Results['rounds']): Sides {
  const side = (drains: DrainResult[]) => ({ drains, median: medianDrain(drains) })
  return {
    single: side(rounds.single),
    ten: side(rounds.ten),
    many: side(rounds.many),
    naive: side(rounds.naive),
  }
}

const drainRates = (drains: DrainResult[]) => drains.map((d) => int(d.perSecond)).join(', ')

function throughputRows(r: Results, s: Sides, concurrency: number): Row[] {
  const vsNaive = (d: DrainResult) => d.perSecond / s.naive.median.perSecond
  const rate = (d: DrainResult, what: string) =>
    `${int(d.perSecond)} deliveries/s = ${x(vsNaive(d))} naive (${int(d.deliveries)} ${what} in ${(d.ms / 1000).toFixed(1)} s, ${concurrency} in flight)`
  const target = (label: string, { drains, median: m }: Sides['single'], what: string): Row => ({
    label,
    measured: `${int(m.perSecond)} deliveries/s = ${x(vsNaive(m))} naive, medians of ${drains.length} and ${s.naive.drains.length} alternated drains (${drainRates(drains)}; ${int(m.deliveries)} ${what}, ${concurrency} in flight)`,
    target: '≥ 1.50× naive',
    result: verdict(vsNaive(m) >= 1.5),
  })
  const many = int(r.destinations)
  return [
    target('Throughput, 1 destination', s.single, 'to an endpoint allowing 64 in flight'),
    target('Throughput, 10 destinations', s.ten, 'to 10 endpoints'),
    target(
      'Throughput, 1,000 destinations',
      s.many,
      `over ${many} orgs' webhook_url, each of which has delivered before`,
    ),
    {
      label: 'Throughput, 1,000 new destinations',
      measured: rate(r.manyNew, `over ${many} orgs' webhook_url never seen: each send window starts at 1`),
      target: 'context',
      result: '',
    },
    {
      label: 'Throughput, 1 destination, from due deliveries',
      measured: rate(r.singleDue, 'fanned out before the worker starts, as the peer gets its backlog'),
      target: 'context',
      result: '',
    },
    {
      label: 'Throughput, 1,000 destinations, from due deliveries',
      measured: rate(r.manyDue, `over ${many} known destinations, fanned out before, the same way`),
      target: 'context',
      result: '',
    },
    {
      label: 'Throughput, 1 destination at the default cap',
      measured: `${int(r.capped.perSecond)} deliveries/s (${int(r.capped.deliveries)} to one webhook_url origin, 10 in flight: the default WEBHOOK_DESTINATION_CONCURRENCY)`,
      target: 'context',
      result: '',
    },
  ]
}

/** Metrics on against off, from alternated rounds of fresh workers: the median of each side. */
function metricsRows(r: Results): Row[] {
  const side = (on: boolean) => r.metrics.filter((m) => m.on === on)
  const list = (values: number[], unit: (n: number) => string) => values.map(unit).join(', ')
  const rates = (on: boolean) => side(on).map((m) => m.drain.perSecond)
  const p99s = (on: boolean) => side(on).map((m) => m.latency.p99)
  const rateRatio = median(rates(true)) / median(rates(false))
  const p99On = median(p99s(true))
  const p99Off = median(p99s(false))
  const scrapes = side(true).reduce((n, m) => n + m.scrapes, 0)
  return [
    {
      label: 'Metrics on vs off, throughput',
      measured: `${x(rateRatio)}, medians (on ${list(rates(true), int)} vs off ${list(rates(false), int)} deliveries/s; ${scrapes} scrapes of /metrics, one a second)`,
      target: '≥ 0.90×',
      result: verdict(rateRatio >= 0.9),
    },
    {
      label: 'Metrics on vs off, latency p99',
      measured: `median on ${ms(p99On)} vs off ${ms(p99Off)} (on ${list(p99s(true), ms)} vs off ${list(p99s(false), ms)})`,
      target: '≤ off + 25 %',
      result: verdict(p99On <= p99Off * 1.25),
    },
  ]
}

function backlogRows(r: Results): Row[] {
  const { rss, events, planned } = r.drain
  const flat = rss.end <= rss.middle * 1.2
  const scale = events < planned ? ` (${int(events)} of ${int(planned)}: time budget)` : ''
  return [
    {
      label: 'Backlog latency p99',
      measured: `${ms(r.backlogLatency.p99)} (p50 ${ms(r.backlogLatency.p50)}) with ${int(r.backlogRetries)} future retries queued`,
      target: '≤ 60 ms',
      result: verdict(r.backlogLatency.p99 <= 60),
    },
    {
      label: 'Backlog worker RSS',
      measured: `${mb(rss.start)} → ${mb(rss.middle)} → ${mb(rss.end)} (max ${mb(rss.max)}) draining ${int(events)} events${scale} at ${int(r.drain.perSecond)}/s`,
      target: 'flat: end ≤ 1.2× middle',
      result: verdict(flat),
    },
  ]
}

function costRows(s: Sides): Row[] {
  const line = (pick: (d: DrainResult) => string) =>
    `${pick(s.single.median)} (10 destinations ${pick(s.ten.median)}; 1,000 destinations ${pick(s.many.median)}; naive ${pick(s.naive.median)}; medians)`
  return [
    {
      label: 'Cost per delivery, node',
      measured: line((d) => `${int(d.nodeUsPerDelivery)} µs`),
      target: 'report',
      result: '',
    },
    {
      label: 'Cost per delivery, postgres',
      measured: line((d) => `${int(d.pgUsPerDelivery)} µs, ${d.xactsPerDelivery.toFixed(2)} transactions`),
      target: 'report',
      result: '',
    },
  ]
}

export function buildRows(r: Results, concurrency: number): Row[] {
  const recording = recordingRows(r.recording, r.recordingAlone)
  const s = sides(r.rounds)
  return [
    ...recording.targets,
    ...latencyRows(r),
    ...throughputRows(r, s, concurrency),
    ...metricsRows(r),
    ...backlogRows(r),
    ...costRows(s),
    ...recording.baselines,
    {
      label: 'Baseline: naive dispatcher',
      measured: `${int(s.naive.median.perSecond)} deliveries/s, ${concurrency} in flight (median of ${drainRates(s.naive.drains)}; ${int(s.naive.median.deliveries)} deliveries a drain; its own lean schema)`,
      target: '—',
      result: 'baseline',
    },
    {
      label: 'Baseline: graphile-worker empty jobs, defaults',
      measured: `${int(r.emptyJobs.default)} jobs/s (${r.emptyJobs.concurrency} concurrent)`,
      target: '—',
      result: 'baseline',
    },
    {
      label: 'Baseline: graphile-worker empty jobs, local queue',
      measured: `${int(r.emptyJobs.localQueue)} jobs/s (local queue 500, batched completion: rejected, see below)`,
      target: '—',
      result: 'baseline',
    },
    {
      label: 'Baseline: raw HTTP',
      measured: `${int(r.rawHttp.perSecond)} requests/s (undici, signed 1 KB body, ${r.rawHttp.inFlight} in flight)`,
      target: '—',
      result: 'baseline',
    },
  ]
}

export function renderTable(rows: readonly Row[]): string {
  const lines = ['| | measured | target | result |', '| --- | --- | --- | --- |']
  for (const row of rows) {
    lines.push(`| ${row.label} | ${row.measured} | ${row.target} | ${row.result} |`)
  }
  return lines.join('\n')
}

const BEGIN = '<!-- bench:begin -->'
const END = '<!-- bench:end -->'

/** Replaces the generated block of docs/benchmarks.md; the hand-written reasoning around it stays. */
export async function writeDocs(path: URL, block: string): Promise<void> {
  const text = await readFile(path, 'utf8')
  const from = text.indexOf(BEGIN)
  const to = text.indexOf(END)
  if (from < 0 || to < from) {
    throw new Error(`${path.pathname} has no ${BEGIN} … ${END} block to replace`)
  }
  await writeFile(path, `${text.slice(0, from + BEGIN.length)}\n${block}\n${text.slice(to)}`)
}
