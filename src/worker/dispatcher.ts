import { setTimeout as delay } from 'node:timers/promises'
import type pg from 'pg'
import type { AttemptDeps } from '../delivery/attempt.ts'
import { attemptDelivery } from '../delivery/attempt.ts'
import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { WorkerMetrics } from '../metrics/worker-metrics.ts'
import type { Db } from '../store/database.ts'
import type { AttemptRecord, ClaimedDelivery } from '../store/deliveries.ts'
import { claimDeliveries, recordAttempts } from '../store/deliveries.ts'
import { fanOutEvents } from '../store/events.ts'
import { advertisePolling } from '../store/worker-pools.ts'
import { OutboxListener } from './outbox-listener.ts'

export type DispatcherOptions = {
  db: Db
  pool: pg.Pool
  poolId: string
  logger: Logger
  attempt: Omit<AttemptDeps, 'signal'>
  concurrency: number
  requestTimeoutMs: number
  /** Added to the request timeout to make a claim's lease: time to record the outcome. */
  leaseMarginMs: number
  /** The longest a statement may go unanswered, here and on the LISTEN connection. */
  queryTimeoutMs: number
  pollIntervalMs: number
  shutdownTimeoutMs: number
  metrics: WorkerMetrics
}

const FAN_OUT_BATCH = 500
const CLAIM_BATCH = 200
const FLUSH_BATCH = 1_000
/** Poll interval while events are flowing; NOTIFY is skipped by recorders meanwhile. */
const HOT_POLL_MS = 4
/** How long after the last work the dispatcher stays hot. */
const HOT_MS = 1_000
/** How far ahead a hot dispatcher advertises that it polls, and the grace it keeps beyond that. */
const ADVERTISE_MS = 2_000
const GRACE_MS = 1_000
const ERROR_BACKOFF_MS = 1_000

/**
 * Moves events to receivers in batches: fans recorded events out into deliveries, leases due
 * deliveries, sends up to `concurrency` requests at once, and writes their outcomes in batched
 * transactions. It polls quickly while work flows (and says so in webhooks.worker_pools, so
 * recorders need not NOTIFY), sleeps on LISTEN plus a slow poll when idle, and arms a timer for
 * the earliest retry it scheduled. Several dispatchers (processes) share the work safely.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #abort = new AbortController()
  #stopping = false
  #inFlight = 0
  #results: Array<{ claimed: ClaimedDelivery; record: AttemptRecord }> = []
  /** Outcomes in the batch being written now. */
  #writing = 0
  /** The last write of outcomes failed, and none has succeeded since. */
  #writesFailing = false
  #flushing: Promise<void> | undefined
  #wake: (() => void) | undefined
  #hotUntil = 0
  #advertisedUntil = 0
  #retryTimer: NodeJS.Timeout | undefined
  #retryAt = Number.POSITIVE_INFINITY
  readonly #listener: OutboxListener
  #loop: Promise<void> | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #beat: Promise<void> | undefined
  #giveUpFlushingAt = Number.POSITIVE_INFINITY
  #loopAliveAt = Date.now()

  constructor(options: DispatcherOptions) {
    this.#o = options
    this.#listener = new OutboxListener(
      options.pool,
      options.logger,
      () => this.kick(),
      options.queryTimeoutMs,
    )
  }

  start(): void {
    this.#loop = this.#run()
    // One beat at a time: beats overtaking each other could write an older promise last.
    this.#heartbeat = setInterval(() => {
      this.#beat ??= this.#advertise().finally(() => {
        this.#beat = undefined
      })
    }, 500)
    this.#heartbeat.unref()
  }

  /** Wakes the loop now (a NOTIFY, a retry timer, the reconciler). */
  kick(): void {
    this.#hotUntil = Math.max(this.#hotUntil, Date.now() + HOT_MS)
    this.#wake?.()
  }

  get inFlight(): number {
    return this.#inFlight
  }

  /** Date.now() when the loop last began to wait for work: /healthz's sign that it goes round. */
  get loopAliveAt(): number {
    return this.#loopAliveAt
  }

  /**
   * Stops taking work, lets in-flight requests finish for up to shutdownTimeoutMs, then aborts
   * the rest (their deliveries are retried at once by another worker) and writes every outcome.
   */
  async stop(): Promise<void> {
    this.#stopping = true
    clearInterval(this.#heartbeat)
    // A beat under way would otherwise write the pool's row back after it is removed.
    await this.#beat
    clearTimeout(this.#retryTimer)
    this.#wake?.()
    await this.#loop
    const deadline = Date.now() + this.#o.shutdownTimeoutMs
    while (this.#inFlight > 0 && Date.now() < deadline) {
      await this.#nextEvent(Math.min(50, deadline - Date.now()))
    }
    this.#abort.abort()
    while (this.#inFlight > 0) {
      await this.#nextEvent(50)
    }
    // With the database gone the outcomes cannot be written: give up after a bound rather than
    // hang. Their leases run out and the attempts are made again (at least once, never lost).
    this.#giveUpFlushingAt = Date.now() + Math.max(this.#o.shutdownTimeoutMs, 2 * ERROR_BACKOFF_MS)
    await this.#flushing
    await this.#flush()
    this.#listener.close()
  }

  async #run(): Promise<void> {
    await this.#listener.ensure()
    while (!this.#stopping) {
      let worked: boolean
      try {
        worked = await this.#pass()
      } catch (error) {
        this.#o.logger.error({ err: coerceError(error) }, 'dispatcher could not reach the database; retrying')
        await this.#nextEvent(ERROR_BACKOFF_MS)
        continue
      }
      await this.#pause(worked)
    }
  }

  /** One round: fan out recorded events, lease what there is room for, start sending it. */
  async #pass(): Promise<boolean> {
    const fannedOut = await fanOutEvents(this.#o.db, FAN_OUT_BATCH)
    // While the database refuses outcomes, a window's worth of them waiting is enough: more
    // requests now would only add outcomes that cannot be written, to be sent again when their
    // leases run out.
    const unwritten = this.#results.length + this.#writing
    const held = this.#writesFailing && unwritten >= this.#o.concurrency
    // stop() may have come while the fan-out ran: a stopping dispatcher sends nothing new.
    const room = this.#stopping || held ? 0 : this.#o.concurrency - this.#inFlight
    const leaseMs = this.#o.requestTimeoutMs + this.#o.leaseMarginMs
    const claimed = room > 0 ? await claimDeliveries(this.#o.db, Math.min(room, CLAIM_BATCH), leaseMs) : []
    this.#o.metrics.claimed(claimed.length)
    for (const delivery of claimed) {
      this.#send(delivery)
    }
    return fannedOut > 0 || claimed.length > 0
  }

  async #pause(worked: boolean): Promise<void> {
    const now = Date.now()
    if (worked) {
      this.#hotUntil = now + HOT_MS
      // Under load, claim in chunks: waking for every finished request would lease one
      // delivery per statement, and statements per delivery are what PostgreSQL pays for.
      const refill = Math.max(1, Math.floor(this.#o.concurrency / 4))
      while (!this.#stopping && this.#inFlight > this.#o.concurrency - refill) {
        await this.#nextEvent(this.#o.pollIntervalMs)
      }
    } else if (now < Math.max(this.#hotUntil, this.#advertisedUntil + GRACE_MS)) {
      await this.#nextEvent(HOT_POLL_MS)
    } else {
      await this.#nextEvent(this.#o.pollIntervalMs)
    }
  }

  /** Resolves on kick(), a finished request, or after `ms`. Cheap: it runs for every wake-up. */
  #nextEvent(ms: number): Promise<void> {
    this.#loopAliveAt = Date.now()
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        if (this.#wake === done) {
          this.#wake = undefined
        }
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = done
    })
  }

  #send(claimed: ClaimedDelivery): void {
    this.#inFlight++
    attemptDelivery(claimed, { ...this.#o.attempt, signal: this.#abort.signal })
      .then((record) => {
        this.#results.push({ claimed, record })
        this.#startFlush()
      })
      .catch((error: unknown) => {
        // attemptDelivery does not throw; if it ever does, the lease expires and another try follows.
        this.#o.logger.error({ err: coerceError(error), deliveryId: claimed.id }, 'attempt crashed')
      })
      .finally(() => {
        this.#inFlight--
        this.#wake?.()
      })
  }

  /**
   * Starts writing outcomes unless a write is under way. An outcome that arrives after that
   * write's last look at the queue, before it settles, is taken by the write started then.
   */
  #startFlush(): void {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined
      if (this.#results.length > 0) {
        this.#startFlush()
      }
    })
  }

  /** Writes finished attempts, many per transaction, until none are waiting. */
  async #flush(): Promise<void> {
    while (this.#results.length > 0) {
      const batch = this.#results.splice(0, FLUSH_BATCH)
      let droppedNow: Set<string> | undefined
      let failure: unknown
      this.#writing = batch.length
      const writeFinished = this.#o.metrics.outcomeWriteStarted(batch.length)
      try {
        droppedNow = await recordAttempts(
          this.#o.db,
          batch.map((r) => r.record),
        )
      } catch (error) {
        failure = error
      } finally {
        this.#writing = 0
      }
      writeFinished(droppedNow !== undefined)
      if (droppedNow === undefined) {
        this.#writesFailing = true
        if (Date.now() >= this.#giveUpFlushingAt) {
          this.#o.logger.error(
            { err: coerceError(failure), count: batch.length + this.#results.length },
            'stopping without recording some attempts; they will be made again when their leases run out',
          )
          this.#results = []
          return
        }
        this.#o.logger.error(
          { err: coerceError(failure), count: batch.length },
          'could not record attempts; retrying',
        )
        this.#results.unshift(...batch)
        await delay(ERROR_BACKOFF_MS)
        continue
      }
      if (this.#writesFailing) {
        this.#writesFailing = false
        // Claims held back while outcomes could not be written may go on.
        this.#wake?.()
      }
      for (const { claimed, record } of batch) {
        if (droppedNow.has(record.deliveryId)) {
          // Its endpoint was disabled or deleted during the attempt: no retry was scheduled.
          this.#logAttempt(claimed, { ...record, status: 'dropped', outcome: 'dropped', retryInMs: null })
          continue
        }
        this.#logAttempt(claimed, record)
        if (record.retryInMs !== null) {
          this.#armRetry(Date.now() + record.retryInMs)
        }
      }
    }
  }

  #logAttempt(claimed: ClaimedDelivery, record: AttemptRecord): void {
    this.#o.metrics.attemptFinished(record, claimed.created_at)
    if (record.outcome !== 'dropped' && !this.#o.logger.isLevelEnabled('info')) {
      return
    }
    const fields = {
      eventId: claimed.event_id,
      deliveryId: record.deliveryId,
      endpointId: record.endpointId ?? undefined,
      attempt: record.attemptNo,
      statusCode: record.statusCode ?? undefined,
      error: record.errorCode ?? undefined,
      durationMs: record.durationMs,
      outcome: record.outcome,
      retryInMs: record.retryInMs ?? undefined,
    }
    if (record.outcome === 'dropped') {
      this.#o.logger.warn(fields, 'delivery dropped')
    } else {
      this.#o.logger.info(fields, 'delivery attempt')
    }
  }

  /** One timer, for the earliest retry this process scheduled: retries need no polling. */
  #armRetry(at: number): void {
    if (this.#stopping || at >= this.#retryAt) {
      return
    }
    clearTimeout(this.#retryTimer)
    this.#retryAt = at
    this.#retryTimer = setTimeout(
      () => {
        this.#retryAt = Number.POSITIVE_INFINITY
        this.kick()
      },
      Math.max(0, at - Date.now()),
    )
    this.#retryTimer.unref()
  }

  /** While hot, promise recorders that this dispatcher polls (they skip NOTIFY meanwhile). */
  async #advertise(): Promise<void> {
    const hot = Date.now() < this.#hotUntil && !this.#stopping
    try {
      if (hot) {
        // Set before the write commits, from when a recorder may rely on it, and again after:
        // the row's promise runs from when the write ran, however long it took to get there.
        this.#advertisedUntil = Date.now() + ADVERTISE_MS
        await advertisePolling(this.#o.db, this.#o.poolId, ADVERTISE_MS)
        this.#advertisedUntil = Date.now() + ADVERTISE_MS
        // A loop that went to its slow poll meanwhile must come back to keep that promise.
        this.#wake?.()
      } else {
        await advertisePolling(this.#o.db, this.#o.poolId, null)
      }
      if (!this.#stopping) {
        // Not awaited: making the LISTEN connection again must not hold up the heartbeat.
        void this.#listener.ensure()
      }
    } catch (error) {
      this.#o.logger.warn({ err: coerceError(error) }, 'heartbeat failed')
    }
  }
}
