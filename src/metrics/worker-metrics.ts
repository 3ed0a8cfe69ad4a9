import type { AttemptRecord } from '../store/outcomes.ts'

/** What a batched write could not write and set aside: see src/worker/isolate.ts. */
export type SetAsideKind = 'outcome' | 'event' | 'destination'

/**
 * What the dispatcher tells the metrics, at the few places it already logs an attempt, claims,
 * and writes outcomes. Every call is cheap (a counter bump, no I/O, no allocation per label);
 * with metrics off the worker is given NO_METRICS, whose calls do nothing.
 */
export type WorkerMetrics = {
  /** An attempt's outcome was written (`record` as logged), for an event recorded at `eventCreatedAt`. */
  attemptFinished(record: AttemptRecord, eventCreatedAt: Date): void
  /** A claim leased `count` deliveries (0: nothing was due). */
  claimed(count: number): void
  /** A write of `count` outcomes starts; call the result with whether it succeeded, once it settled. */
  outcomeWriteStarted(count: number): (succeeded: boolean) => void
  /** A row that made its batch fail was split out and set aside (logged once, for an operator). */
  setAside(kind: SetAsideKind): void
}

const ignore = () => undefined

/** Metrics off: nothing is counted, nothing is kept. */
export const NO_METRICS: WorkerMetrics = {
  attemptFinished: ignore,
  claimed: ignore,
  outcomeWriteStarted: () => ignore,
  setAside: ignore,
}
