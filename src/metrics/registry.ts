import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { Backlog } from '../store/backlog.ts'
import { createAttemptMetrics } from './attempt-metrics.ts'
import type { BacklogReader } from './backlog-reader.ts'
import type { WorkerMetrics } from './worker-metrics.ts'

/** What the dispatcher shows of itself at scrape time, through getters that cost nothing. */
export type DispatcherView = {
  readonly inFlight: number
  /** Date.now() when its loop last went round (src/worker/dispatcher.ts). */
  readonly loopAliveAt: number
}

export type MetricsSources = {
  version: string
  backlog: BacklogReader
  /** The running dispatcher; undefined while the worker starts. */
  dispatcher: () => DispatcherView | undefined
}

export type Metrics = { registry: Registry; worker: WorkerMetrics }

const BACKLOG_GAUGES: ReadonlyArray<[keyof Backlog, string, string]> = [
  ['due', 'imtegrate_webhooks_deliveries_due', 'Deliveries due now and not being attempted.'],
  [
    'eventsAwaitingFanOut',
    'imtegrate_webhooks_events_awaiting_fan_out',
    'Recorded events not yet fanned out into deliveries.',
  ],
  [
    'oldestDueSeconds',
    'imtegrate_webhooks_oldest_due_age_seconds',
    'How long the longest-waiting due delivery (of a destination not backing off) or unfanned event has waited (0: none waits).',
  ],
  [
    'awaitingRetry',
    'imtegrate_webhooks_deliveries_awaiting_retry',
    'Deliveries that failed and wait for their next attempt (not those held for an operator).',
  ],
  [
    'deliveriesSetAside',
    'imtegrate_webhooks_deliveries_set_aside',
    'Deliveries held for an operator: an outcome that could not be written, nor their drop; never retried by themselves.',
  ],
  [
    'eventsSetAside',
    'imtegrate_webhooks_events_set_aside',
    'Events that could not be fanned out, set aside until an operator puts them back.',
  ],
  [
    'destinationsSetAside',
    'imtegrate_webhooks_destinations_set_aside',
    'Destinations set aside for a while because claiming their deliveries failed on their data.',
  ],
  [
    'droppedLastHour',
    'imtegrate_webhooks_deliveries_dropped_last_hour',
    'Deliveries dropped within the last hour, by every worker.',
  ],
  [
    'heldBack',
    'imtegrate_webhooks_deliveries_held_back',
    'Due deliveries held back because their destination is backing off (not counted in the oldest due age).',
  ],
  [
    'destinationsBackingOff',
    'imtegrate_webhooks_destinations_backing_off',
    'Destinations backing off: timing out or unreachable, probed one request at a time.',
  ],
]

/**
 * A registry of its own (not prom-client's global one) with everything a worker exports:
 * process metrics, the build, the attempt counters the dispatcher moves, and the gauges read at
 * scrape time (the dispatcher's getters; the backlog, read at most every few seconds).
 */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })
  // Gauges named like counters, which promtool's lint refuses; their per-type series remain.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name)
  }
  new Gauge({
    name: 'imtegrate_webhooks_build_info',
    help: 'The running version, always 1.',
    labelNames: ['version'],
    registers,
  }).set({ version: sources.version }, 1)

  new Gauge({
    name: 'imtegrate_webhooks_requests_in_flight',
    help: 'Requests to receivers under way in this worker.',
    registers,
    collect() {
      this.set(sources.dispatcher()?.inFlight ?? 0)
    },
  })
  new Gauge({
    name: 'imtegrate_webhooks_dispatcher_loop_timestamp_seconds',
    help: "When this worker's dispatcher loop last went round (0: not started).",
    registers,
    collect() {
      this.set((sources.dispatcher()?.loopAliveAt ?? 0) / 1000)
    },
  })

  // The gauges of one scrape are collected at once, so they all get the same reading.
  const reading = () => sources.backlog.current()
  for (const [key, name, help] of BACKLOG_GAUGES) {
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const current = await reading()
        if (current === undefined) {
          this.reset()
        } else {
          this.set(current.backlog[key])
        }
      },
    })
  }
  new Gauge({
    name: 'imtegrate_webhooks_backlog_read_timestamp_seconds',
    help: 'When the backlog gauges were last read from the database (0: never).',
    registers,
    async collect() {
      this.set(((await reading())?.readAt ?? 0) / 1000)
    },
  })
  new Counter({
    name: 'imtegrate_webhooks_backlog_read_failures_total',
    help: 'Reads of the backlog from the database that failed.',
    registers,
    collect() {
      this.reset()
      this.inc(sources.backlog.failures)
    },
  })

  return { registry, worker: createAttemptMetrics(registry) }
}
