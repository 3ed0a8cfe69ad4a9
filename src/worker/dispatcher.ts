import type pg from 'pg'
import type { AttemptDeps } from '../delivery/attempt.ts'
import { attemptDelivery } from '../delivery/attempt.ts'
import { probePauses } from '../delivery/retry-policy.ts'
import { coerceError, errorText } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { WorkerMetrics } from '../metrics/worker-metrics.ts'
import type { ClaimedDelivery, ClaimRequest } from '../store/claim.ts'
import type { Db } from '../store/database.ts'
import { statementFault } from '../store/faults.ts'
import { Heartbeat } from './heartbeat.ts'
import { claim, fanOut } from './intake.ts'
import { OutboxListener } from './outbox-listener.ts'
import { OutcomeWriter } from './outcome-writer.ts'
import { Slots } from './slots.ts'

export type DispatcherOptions = {
  db: Db
  pool: pg.Pool
  poolId: string
  logger: Logger
  /** How one attempt is made; its schedule is the retry schedule. */
  attempt: Omit<AttemptDeps, 'signal'>
  /** Requests in flight at once in this process (WORKER_CONCURRENCY). */
  concurrency: number
  /** Requests in flight per destination across all workers, unless its endpoint sets its own. */
  destinationConcurrency: number
  requestTimeoutMs: number
  /** Added to the request timeout to make a claim's lease: time to record the outcome. */
  leaseMarginMs: number
  /** The longest a statement may go unanswered, here and on the LISTEN connection. */
  queryTimeoutMs: number
  pollIntervalMs: number
  shutdownTimeoutMs: number
  metrics: WorkerMetrics
}

const CLAIM_BATCH = 200
/** Poll interval while events are flowing; NOTIFY is skipped by recorders meanwhile. */
const HOT_POLL_MS = 4
/** How long after the last work the dispatcher stays hot. */
const HOT_MS = 1_000
/** How long a dispatcher keeps polling beyond the promise it advertised. */
const GRACE_MS = 1_000
const ERROR_BACKOFF_MS = 1_000
/**
 * After the database was unreachable, this long without taking over expired leases: their
 * workers may be alive, holding outcomes they write once they beat again.
 */
const TAKEOVER_GRACE_MS = 5_000

/**
 * Moves events to receivers: fans recorded events out into deliveries, claims due deliveries
 * fairly across destinations (the database deals the turns and keeps each destination's cap,
 * backoff and rate limit), sends up to `concurrency` requests at once, and hands each outcome to
 * the outcome writer. It polls quickly while work flows (the heartbeat says so, and recorders
 * skip NOTIFY), sleeps on LISTEN plus a slow poll when idle, and arms a timer for the earliest
 * retry it scheduled. Several dispatchers (processes) share the work safely.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #abort = new AbortController()
  readonly #slots: Slots
  readonly #listener: OutboxListener
  readonly #heartbeat: Heartbeat
  readonly #writer: OutcomeWriter
  #stopping = false
  #wake: (() => void) | undefined
  #hotUntil = 0
  #quietUntil = 0
  #retryTimer: NodeJS.Timeout | undefined
  #retryAt = Number.POSITIVE_INFINITY
  #loop: Promise<void> | undefined
  #loopAliveAt = Date.now()

  constructor(options: DispatcherOptions) {
    this.#o = options
    this.#slots = new Slots(options.concurrency)
    this.#listener = new OutboxListener(
      options.pool,
      options.logger,
      () => this.kick(),
      options.queryTimeoutMs,
    )
    this.#heartbeat = new Heartbeat({
      db: options.db,
      poolId: options.poolId,
      logger: options.logger,
      listener: this.#listener,
      hot: () => Date.now() < this.#hotUntil,
      promised: () => this.#wake?.(),
    })
    this.#writer = new OutcomeWriter({
      db: options.db,
      logger: options.logger,
      policy: {
        defaultCap: options.destinationConcurrency,
        probePausesMs: probePauses(options.attempt.schedule),
      },
      schedule: options.attempt.schedule,
      metrics: options.metrics,
      onRetryDue: (at) => this.#armRetry(at),
      onRecovered: () => {
        this.#quietUntil = Date.now() + TAKEOVER_GRACE_MS
        this.#wake?.()
      },
    })
  }

  start(): void {
    this.#loop = this.#run()
    this.#heartbeat.start()
  }

  /** Wakes the loop now (a NOTIFY, a retry timer, the reconciler). */
  kick(): void {
    this.#hotUntil = Math.max(this.#hotUntil, Date.now() + HOT_MS)
    this.#wake?.()
  }

  get inFlight(): number {
    return this.#slots.used
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
    await this.#heartbeat.stop()
    clearTimeout(this.#retryTimer)
    this.#wake?.()
    await this.#loop
    const deadline = Date.now() + this.#o.shutdownTimeoutMs
    while (this.#slots.used > 0 && Date.now() < deadline) {
      await this.#nextEvent(Math.min(50, deadline - Date.now()))
    }
    this.#abort.abort()
    while (this.#slots.used > 0) {
      await this.#nextEvent(50)
    }
    await this.#writer.close(Math.max(this.#o.shutdownTimeoutMs, 2 * ERROR_BACKOFF_MS))
    this.#listener.close()
  }

  async #run(): Promise<void> {
    await this.#listener.ensure()
    while (!this.#stopping) {
      let worked: boolean
      try {
        worked = await this.#pass()
      } catch (error) {
        this.#quietUntil = Date.now() + TAKEOVER_GRACE_MS
        this.#logFailure(error)
        await this.#nextEvent(ERROR_BACKOFF_MS)
        continue
      }
      await this.#pause(worked)
    }
  }

  /**
   * Says what made a round fail: the database out of reach, or a statement it refused (say, a
   * column an upgrade renamed, under a worker of the version before), with its SQLSTATE.
   */
  #logFailure(error: unknown): void {
    const code = statementFault(error)
    if (code === undefined) {
      this.#o.logger.error({ err: coerceError(error) }, 'dispatcher could not reach the database; retrying')
    } else {
      this.#o.logger.error(
        { err: coerceError(error), code },
        `dispatcher's statement failed: ${errorText(error)}; retrying`,
      )
    }
  }

  /** One round: fan out recorded events, claim what there is room for, start sending it. */
  async #pass(): Promise<boolean> {
    const fannedOut = await fanOut(this.#o.db, this.#o.logger, this.#o.metrics)
    // Outcomes that could not be written are written first, before anything new is claimed:
    // claimed now, they would only add outcomes that cannot be written either. And stop() may
    // have come while the fan-out ran: a stopping dispatcher sends nothing new.
    // The outcomes of the requests that finished are written first: until they are, their
    // leases still count against their destinations' caps, and a claim would find them full.
    await this.#writer.written()
    const room = this.#stopping || this.#writer.failing ? 0 : this.#slots.free
    const claimed =
      room > 0 ? await claim(this.#o.db, this.#o.logger, this.#o.metrics, this.#claimRequest(room)) : []
    this.#o.metrics.claimed(claimed.length)
    for (const delivery of claimed) {
      this.#send(delivery)
    }
    return fannedOut > 0 || claimed.length > 0
  }

  #claimRequest(room: number): ClaimRequest {
    return {
      limit: Math.min(room, CLAIM_BATCH),
      leaseMs: this.#o.requestTimeoutMs + this.#o.leaseMarginMs,
      defaultCap: this.#o.destinationConcurrency,
      poolId: this.#o.poolId,
      passedOver: this.#slots.passedOver(),
      takeOverAfterMs: Math.max(0, this.#quietUntil - Date.now()),
    }
  }

  async #pause(worked: boolean): Promise<void> {
    const now = Date.now()
    if (worked) {
      this.#hotUntil = now + HOT_MS
      // Under load, claim in chunks: waking for every finished request would lease one
      // delivery per statement, and statements per delivery are what PostgreSQL pays for.
      const refill = Math.max(1, Math.floor(this.#o.concurrency / 4))
      while (!this.#stopping && this.#slots.free < refill) {
        await this.#nextEvent(this.#o.pollIntervalMs)
      }
    } else if (now < Math.max(this.#hotUntil, this.#heartbeat.advertisedUntil + GRACE_MS)) {
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
    const release = this.#slots.take(claimed.destination_id)
    attemptDelivery(claimed, { ...this.#o.attempt, signal: this.#abort.signal })
      .then((record) => this.#writer.add({ claimed, record }))
      .catch((error: unknown) => {
        // attemptDelivery does not throw; if it ever does, the lease expires and another try follows.
        this.#o.logger.error({ err: coerceError(error), deliveryId: claimed.id }, 'attempt crashed')
      })
      .finally(() => {
        release()
        this.#wake?.()
      })
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
}
