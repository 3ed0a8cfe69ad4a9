import { setTimeout as delay } from 'node:timers/promises'
import { settle } from '../delivery/retry-policy.ts'
import { coerceError, errorText } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { WorkerMetrics } from '../metrics/worker-metrics.ts'
import type { ClaimedDelivery } from '../store/claim.ts'
import type { Db } from '../store/database.ts'
import type { AttemptRecord, DestinationPolicy } from '../store/outcomes.ts'
import { holdOutcome, recordOutcomes } from '../store/outcomes.ts'
import { writeIsolating } from './isolate.ts'

/** Outcomes written in one call, at most. */
const BATCH = 1_000
/** After a write failed, the next try waits this long. */
const RETRY_MS = 1_000

export type Finished = { claimed: ClaimedDelivery; record: AttemptRecord }

export type OutcomeWriterOptions = {
  db: Db
  logger: Logger
  policy: DestinationPolicy
  schedule: readonly number[]
  metrics: WorkerMetrics
  /** A retry this process scheduled is due at this time (ms since the epoch). */
  onRetryDue(at: number): void
  /** A write succeeded after writes had failed: claims held back may go on. */
  onRecovered(): void
}

/**
 * Writes finished attempts to the database in batches: each outcome joins a queue that is
 * written as soon as the write before it is done, up to BATCH in one call. Nothing is
 * acknowledged before it is written: while the database refuses writes, outcomes are held (the
 * dispatcher claims nothing meanwhile, so at most a window's worth) and written once it is back,
 * before anything new is claimed. A batch that fails because of one row's data is split until
 * that row is found; the rest is written, and that one is logged once and held aside
 * (webhooks.hold_outcome), neither re-sent in a loop nor lost.
 */
export class OutcomeWriter {
  readonly #o: OutcomeWriterOptions
  #queue: Finished[] = []
  /** Outcomes in the batch being written now. */
  #writing = 0
  #failing = false
  #flushing: Promise<void> | undefined
  #giveUpAt = Number.POSITIVE_INFINITY
  /** Outcomes handed over, and those written (or given up on), since the start; in order. */
  #added = 0
  #done = 0
  #waiters: Array<{ target: number; resolve: () => void }> = []
  /** Outcomes added wait for writeWith() instead of being written at once. */
  #held = false

  constructor(options: OutcomeWriterOptions) {
    this.#o = options
  }

  /** Outcomes not yet written. */
  get waiting(): number {
    return this.#queue.length + this.#writing
  }

  /** The last write failed, and none has succeeded since. */
  get failing(): boolean {
    return this.#failing
  }

  /**
   * Resolves once every outcome handed over before this call is written, or at once when writes
   * are failing (the dispatcher claims nothing then anyway). Outcomes added later are not waited
   * for: a steady stream of them never holds the caller up.
   */
  written(): Promise<void> {
    return this.#done >= this.#added || this.#failing ? Promise.resolve() : this.#until(this.#added)
  }

  /** Resolves once `target` outcomes are written (or given up on), or once a write fails. */
  #until(target: number): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ target, resolve }))
  }

  add(finished: Finished): void {
    this.#added++
    this.#queue.push(finished)
    if (!this.#held) {
      this.#start()
    }
  }

  /** From now on outcomes wait to be written with the next claim (writeWith) until resume(). */
  hold(): void {
    this.#held = true
  }

  /** Writes what waits now, and each outcome from now on as it comes. */
  resume(): void {
    this.#held = false
    if (this.#queue.length > 0) {
      this.#start()
    }
  }

  /**
   * Writes the outcomes waiting (up to BATCH) within another statement, `write`: it gets their
   * records and returns the deliveries it dropped (as recordOutcomes does) with its own result.
   * The write under way is waited for first: until it is done, its leases still count against
   * their destinations' caps. While writes fail, `write` gets no records. If `write` fails, its
   * outcomes go back to the queue and the writer resumes writing by itself, them first (a row
   * that cannot be written is found and held aside there); the error is thrown.
   */
  async writeWith<T>(
    write: (records: AttemptRecord[]) => Promise<{ dropped: ReadonlySet<string>; result: T }>,
  ): Promise<T> {
    while (this.#writing > 0 && !this.#failing) {
      await this.#until(this.#done + this.#writing)
    }
    const batch = this.#failing ? [] : this.#queue.splice(0, BATCH)
    if (batch.length === 0) {
      return (await write([])).result
    }
    this.#writing += batch.length
    const writeFinished = this.#o.metrics.outcomeWriteStarted(batch.length)
    let written: { dropped: ReadonlySet<string>; result: T }
    try {
      written = await write(batch.map((f) => f.record))
      writeFinished(true)
    } catch (error) {
      writeFinished(false)
      this.#queue.unshift(...batch)
      this.resume()
      throw error
    } finally {
      this.#writing -= batch.length
    }
    this.#written(batch, written.dropped)
    return written.result
  }

  /**
   * Writes everything waiting; with the database gone, gives up after `boundMs` rather than hang
   * (those deliveries' leases run out and their attempts are made again: at least once).
   */
  async close(boundMs: number): Promise<void> {
    this.#giveUpAt = Date.now() + boundMs
    this.#held = false
    await this.#flushing
    await this.#flush()
  }

  /**
   * Starts writing unless a write is under way. An outcome that arrives after that write's last
   * look at the queue, before it settles, is taken by the write started then.
   */
  #start(): void {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined
      if (this.#queue.length > 0 && !this.#held) {
        this.#start()
      }
    })
  }

  async #flush(): Promise<void> {
    // Held, it stops after the batch under way (what comes is for writeWith); not while failing.
    while (this.#queue.length > 0 && (!this.#held || this.#failing)) {
      const batch = this.#queue.splice(0, BATCH)
      this.#writing += batch.length
      const writeFinished = this.#o.metrics.outcomeWriteStarted(batch.length)
      let dropped: Set<string> | undefined
      try {
        dropped = await this.#write(batch)
        writeFinished(true)
      } catch (error) {
        writeFinished(false)
        this.#failing = true
        this.#release(Number.POSITIVE_INFINITY)
        if (Date.now() >= this.#giveUpAt) {
          this.#o.logger.error(
            { err: coerceError(error), count: batch.length + this.#queue.length },
            'stopping without recording some attempts; they will be made again when their leases run out',
          )
          this.#done += batch.length + this.#queue.length
          this.#queue = []
          return
        }
        this.#o.logger.error(
          { err: coerceError(error), count: batch.length },
          'could not record attempts; retrying',
        )
        this.#queue.unshift(...batch)
        await delay(RETRY_MS)
        continue
      } finally {
        this.#writing -= batch.length
      }
      this.#written(batch, dropped)
    }
  }

  #written(batch: readonly Finished[], dropped: ReadonlySet<string>): void {
    this.#done += batch.length
    this.#release(this.#done)
    if (this.#failing) {
      this.#failing = false
      this.#o.onRecovered()
    }
    for (const { claimed, record } of batch) {
      this.#logged(claimed, dropped.has(record.deliveryId) ? asDropped(record) : record)
    }
  }

  /** Resolves the written() calls waiting for no more than `done` outcomes. */
  #release(done: number): void {
    const still = this.#waiters.filter((w) => w.target > done)
    for (const w of this.#waiters) {
      if (w.target <= done) {
        w.resolve()
      }
    }
    this.#waiters = still
  }

  /** One batch, its rows that cannot be written set aside. Returns the deliveries dropped now. */
  async #write(batch: readonly Finished[]): Promise<Set<string>> {
    const written = await writeIsolating(
      batch,
      (part) =>
        recordOutcomes(
          this.#o.db,
          part.map((f) => f.record),
          this.#o.policy,
        ),
      (poisoned, error) => this.#hold(poisoned, error),
    )
    return new Set(written.flatMap((ids) => [...ids]))
  }

  /** The last resort for an outcome that cannot be written: see webhooks.hold_outcome. */
  async #hold({ claimed, record }: Finished, error: unknown): Promise<void> {
    const retry = settle({ kind: 'failure' }, claimed.failures, this.#o.schedule).retryInMs
    const fields = { deliveryId: record.deliveryId, attempt: record.attemptNo, err: coerceError(error) }
    this.#o.metrics.setAside('outcome')
    try {
      const held = await holdOutcome(this.#o.db, record, errorText(error), retry)
      this.#o.logger.error({ ...fields, held }, 'could not record this attempt; its delivery is held aside')
      if (held === 'retrying' && retry !== null) {
        this.#o.onRetryDue(Date.now() + retry)
      }
    } catch (holdError) {
      // Its lease runs out and the attempt is made again; this is logged for each such attempt.
      this.#o.logger.error(
        { ...fields, holdError: coerceError(holdError) },
        'could not record this attempt nor hold its delivery aside',
      )
    }
  }

  #logged(claimed: ClaimedDelivery, record: AttemptRecord): void {
    this.#o.metrics.attemptFinished(record, claimed.created_at)
    if (record.retryInMs !== null && record.status === 'pending') {
      this.#o.onRetryDue(Date.now() + record.retryInMs)
    }
    const { logger } = this.#o
    if (record.outcome !== 'dropped' && !logger.isLevelEnabled('info')) {
      return
    }
    const fields = {
      eventId: claimed.event_id,
      deliveryId: record.deliveryId,
      endpointId: record.endpointId ?? undefined,
      destinationId: record.destinationId,
      attempt: record.attemptNo,
      statusCode: record.statusCode ?? undefined,
      error: record.errorCode ?? undefined,
      durationMs: record.durationMs,
      outcome: record.outcome,
      retryInMs: record.retryInMs ?? undefined,
    }
    if (record.outcome === 'dropped') {
      logger.warn(fields, 'delivery dropped')
    } else {
      logger.info(fields, 'delivery attempt')
    }
  }
}

/** A retry that was not scheduled: its endpoint was disabled or deleted during the attempt. */
function asDropped(record: AttemptRecord): AttemptRecord {
  return { ...record, status: 'dropped', outcome: 'dropped', retryInMs: null }
}
