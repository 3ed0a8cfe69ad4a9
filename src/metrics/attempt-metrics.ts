import type { Registry } from 'prom-client'
import { Counter, Histogram } from 'prom-client'
import { OUTCOME_CLASSES, statusClass } from './status-class.ts'
import type { SetAsideKind, WorkerMetrics } from './worker-metrics.ts'

/** 1 ms to 60 s: a local receiver's answer to a request timeout, and a backlog's wait. */
export const SECONDS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const
/** Up to the largest claim (200) and outcome write (1,000) the dispatcher makes. */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] as const

/**
 * The counters and histograms the dispatcher moves as it works. Labels come from closed sets
 * (outcome, status class): never an org, endpoint, URL or render id.
 */
export function createAttemptMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry]
  const attempts = new Counter({
    name: 'imtegrate_webhooks_attempts_total',
    help: 'Delivery attempts whose outcome was written, by outcome and by what the receiver answered.',
    labelNames: ['outcome', 'status_class'],
    registers,
  })
  // The series that can occur exist from the start, at 0: increase() sees a worker's first
  // increment. Label objects are made once, not per attempt.
  const labelSets = new Map<string, { outcome: string; status_class: string }>()
  for (const [outcome, classes] of Object.entries(OUTCOME_CLASSES)) {
    for (const status_class of classes) {
      const labels = { outcome, status_class }
      labelSets.set(`${outcome} ${status_class}`, labels)
      attempts.inc(labels, 0)
    }
  }
  const attemptDuration = new Histogram({
    name: 'imtegrate_webhooks_attempt_duration_seconds',
    help: 'How long attempts took, from the request to the end of the answer (or the failure).',
    buckets: [...SECONDS_BUCKETS],
    registers,
  })
  const firstAttemptDelay = new Histogram({
    name: 'imtegrate_webhooks_first_attempt_delay_seconds',
    help: "From an event's recording (its transaction's start) to the start of a delivery's first attempt.",
    buckets: [...SECONDS_BUCKETS],
    registers,
  })
  const claimBatch = new Histogram({
    name: 'imtegrate_webhooks_claim_batch_size',
    help: 'Deliveries leased per claim that found any.',
    buckets: [...BATCH_BUCKETS],
    registers,
  })
  const writeBatch = new Histogram({
    name: 'imtegrate_webhooks_outcome_write_batch_size',
    help: 'Attempt outcomes per write (one statement each).',
    buckets: [...BATCH_BUCKETS],
    registers,
  })
  const writeDuration = new Histogram({
    name: 'imtegrate_webhooks_outcome_write_duration_seconds',
    help: 'How long writes of attempt outcomes took, whether they succeeded or failed (under load a write carries the next claim).',
    buckets: [...SECONDS_BUCKETS],
    registers,
  })
  const writeFailures = new Counter({
    name: 'imtegrate_webhooks_outcome_write_failures_total',
    help: 'Writes of attempt outcomes that failed (they are tried again).',
    registers,
  })
  const rowsSetAside = new Counter({
    name: 'imtegrate_webhooks_rows_set_aside_total',
    help: 'Rows a batched write could not write (an outcome, an event to fan out, a destination to claim from), split out and set aside.',
    labelNames: ['kind'],
    registers,
  })
  const kinds: Record<SetAsideKind, { kind: SetAsideKind }> = {
    outcome: { kind: 'outcome' },
    event: { kind: 'event' },
    destination: { kind: 'destination' },
  }
  for (const labels of Object.values(kinds)) {
    rowsSetAside.inc(labels, 0)
  }

  return {
    attemptFinished(record, eventCreatedAt) {
      const status_class = statusClass(record.statusCode, record.errorCode)
      attempts.inc(
        labelSets.get(`${record.outcome} ${status_class}`) ?? { outcome: record.outcome, status_class },
      )
      attemptDuration.observe(record.durationMs / 1000)
      if (record.attemptNo === 1) {
        // Two clocks (the database's and this process's): a skew must not make a delay negative.
        firstAttemptDelay.observe(Math.max(0, record.startedAt.getTime() - eventCreatedAt.getTime()) / 1000)
      }
    },
    claimed(count) {
      if (count > 0) {
        claimBatch.observe(count)
      }
    },
    outcomeWriteStarted(count) {
      const started = performance.now()
      return (succeeded) => {
        writeDuration.observe((performance.now() - started) / 1000)
        if (succeeded) {
          writeBatch.observe(count)
        } else {
          writeFailures.inc()
        }
      }
    },
    setAside(kind) {
      rowsSetAside.inc(kinds[kind])
    },
  }
}
