import type pg from 'pg'
import type { AttemptDeps } from '../delivery/attempt.ts'
import { attemptDelivery } from '../delivery/attempt.ts'
import { probePauses } from '../delivery/retry-policy.ts'
import { coerceError, errorText } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { WorkerMetrics } from '../metrics/worker-metrics.ts'
import type { ClaimedDelivery, ClaimRequest } from '../store/claim.ts'
import { settleAndClaim } from '../store/claim.ts'
import type { Db } from '../store/database.ts'
import { isDataFault, statementFault } from '../store/faults.ts'
import type { AttemptRecord, DestinationPolicy } from '../store/outcomes.ts'
import { Heartbeat } from './heartbeat.ts'
import { claim, FAN_OUT_BATCH, fanOut } from './intake.ts'
import { OutboxListener } from './outbox-listener.ts'
import { OutcomeWriter } from './outcome-writer.ts'
import { Signal } from './signal.ts'
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
/** The fan-out's poll interval while events are flowing; NOTIFY is skipped by recorders meanwhile. */
const HOT_POLL_MS = 4
/**
 * The claim loop's, meanwhile: the fan-out wakes it for what it fans out and finished requests
 * for their destinations; polling finds the rest (another worker's deliveries while its slots are
 * full, rate-limit tokens, backoffs ending), which may wait this long.
 */
const CLAIM_HOT_POLL_MS = 20
/** How long after the last work the dispatcher stays hot. */
const HOT_MS = 1_000
/** How long a dispatcher keeps polling beyond the promise it advertised. */
const GRACE_MS = 1_000
const ERROR_BACKOFF_MS = 1_000
/**
 * While a claim is coming soon (a quarter of the slots are about to be free), the outcomes of
 * finished requests wait for it, to be written in its statement; this long at most, then they
 * are written alone.
 */
const OUTCOME_LINGER_MS = 10
/**
 * A claim may take, beyond the free slots, as many deliveries as there are requests in flight
 * that started less than this long ago to destinations whose last request took no longer: those
 * end while the claim is on its way, and what it took for their slots goes out as they do, not a
 * claim later (under load, requests to such receivers end faster than a claim returns, and
 * slots stood empty meanwhile). Requests to slower receivers free no slot ahead of time: what is
 * claimed ahead holds its destination's cap while it waits, and a worker holding a cap's room
 * for its queue would keep another worker from using it.
 */
const AHEAD_MS = 20
/**
 * After the database was unreachable, this long without taking over expired leases: their
 * workers may be alive, holding outcomes they write once they beat again.
 */
const TAKEOVER_GRACE_MS = 5_000

/**
 * Moves events to receivers, in two loops that do not wait for each other: one fans recorded
 * events out into deliveries; the other claims due deliveries fairly across destinations (the
 * database deals the turns and keeps each destination's cap, backoff and rate limit), sends up
 * to `concurrency` requests at once, and hands each outcome to the outcome writer. Both poll
 * while work flows (the fan-out quickly: the heartbeat says so, and recorders skip NOTIFY) and
 * sleep on LISTEN plus a slow poll when idle; a timer is armed for the earliest retry this
 * process scheduled. Several dispatchers (processes) share the work safely.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #abort = new AbortController()
  readonly #slots: Slots
  readonly #listener: OutboxListener
  readonly #heartbeat: Heartbeat
  readonly #writer: OutcomeWriter
  readonly #policy: DestinationPolicy
  /** Wakes the claim loop: a finished request, new deliveries, a retry due, a kick. */
  readonly #claims = new Signal()
  /** Wakes the fan-out loop: a NOTIFY, a kick. */
  readonly #intake = new Signal()
  #stopping = false
  #hotUntil = 0
  #quietUntil = 0
  #retryTimer: NodeJS.Timeout | undefined
  #retryAt = Number.POSITIVE_INFINITY
  #loops: Promise<unknown> | undefined
  /** Deliveries claimed ahead of a free slot, sent in order as requests end. */
  readonly #ahead: ClaimedDelivery[] = []

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
      promised: () => {
        this.#claims.fire()
        this.#intake.fire()
      },
    })
    this.#policy = {
      defaultCap: options.destinationConcurrency,
      probePausesMs: probePauses(options.attempt.schedule),
    }
    this.#writer = new OutcomeWriter({
      db: options.db,
      logger: options.logger,
      policy: this.#policy,
      schedule: options.attempt.schedule,
      metrics: options.metrics,
      onRetryDue: (at) => this.#armRetry(at),
      onRecovered: () => {
        this.#quietUntil = Date.now() + TAKEOVER_GRACE_MS
        this.#claims.fire()
      },
    })
  }

  start(): void {
    // LISTEN first: a NOTIFY sent before it is heard would wait for the slow poll.
    this.#loops = this.#listener.ensure().then(() => Promise.all([this.#runClaims(), this.#runIntake()]))
    this.#heartbeat.start()
  }

  /** Wakes both loops now (a NOTIFY, a retry timer, the reconciler). */
  kick(): void {
    this.#hotUntil = Math.max(this.#hotUntil, Date.now() + HOT_MS)
    this.#claims.fire()
    this.#intake.fire()
  }

  get inFlight(): number {
    return this.#slots.used
  }

  /** Date.now() when the slower of the two loops last went round: /healthz's sign that they do. */
  get loopAliveAt(): number {
    return Math.min(this.#claims.aliveAt, this.#intake.aliveAt)
  }

  /**
   * Stops taking work, lets in-flight requests finish for up to shutdownTimeoutMs, then aborts
   * the rest (their deliveries are retried at once by another worker) and writes every outcome.
   */
  async stop(): Promise<void> {
    this.#stopping = true
    await this.#heartbeat.stop()
    clearTimeout(this.#retryTimer)
    this.#claims.fire()
    this.#intake.fire()
    await this.#loops
    const deadline = Date.now() + this.#o.shutdownTimeoutMs
    while (this.#slots.used > 0 && Date.now() < deadline) {
      await this.#claims.wait(Math.min(50, deadline - Date.now()))
    }
    this.#abort.abort()
    // What was claimed ahead is handed to the attempt now, which ends it at once as abandoned.
    this.#sendAhead()
    while (this.#slots.used > 0) {
      await this.#claims.wait(50)
    }
    await this.#writer.close(Math.max(this.#o.shutdownTimeoutMs, 2 * ERROR_BACKOFF_MS))
    this.#listener.close()
  }

  /** Claims and sends; the requests' outcomes wake it. */
  async #runClaims(): Promise<void> {
    while (!this.#stopping) {
      this.#claims.round()
      let claimed: number
      try {
        claimed = await this.#claimRound()
      } catch (error) {
        this.#failed(error)
        this.#writer.resume()
        await this.#claims.wait(ERROR_BACKOFF_MS)
        continue
      }
      await this.#pauseClaims(claimed > 0)
    }
    this.#writer.resume()
  }

  /** Fans recorded events out; new deliveries wake the claim loop. */
  async #runIntake(): Promise<void> {
    while (!this.#stopping) {
      this.#intake.round()
      let fannedOut: number
      try {
        fannedOut = await fanOut(this.#o.db, this.#o.logger, this.#o.metrics)
      } catch (error) {
        this.#failed(error)
        await this.#intake.wait(ERROR_BACKOFF_MS)
        continue
      }
      if (fannedOut > 0) {
        this.#hotUntil = Date.now() + HOT_MS
        this.#claims.fire()
      }
      if (fannedOut < FAN_OUT_BATCH) {
        await this.#idle(this.#intake, HOT_POLL_MS)
      }
    }
  }

  #failed(error: unknown): void {
    this.#quietUntil = Date.now() + TAKEOVER_GRACE_MS
    this.#logFailure(error)
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

  /**
   * Writes the outcomes of the requests that finished and claims what there is room for, in one
   * statement; starts sending what it claimed and returns how many. Until those outcomes are
   * written their leases still count against their destinations' caps: a claim made before
   * would find them full. The outcomes of a write under way are waited for; outcomes that could
   * not be written at all are written before anything new is claimed (claimed now, they would
   * only add outcomes that cannot be written either). A stopping dispatcher sends nothing new.
   */
  async #claimRound(): Promise<number> {
    this.#writer.hold()
    let claimed: ClaimedDelivery[]
    try {
      claimed = await this.#writer.writeWith((records) => this.#settleAndClaim(records))
    } catch (error) {
      if (!isDataFault(error)) {
        throw error
      }
      // An outcome, or a destination's delivery, that makes the statement fail: the writer
      // writes the outcomes (holding aside one that cannot be written), then the claim is made
      // alone (setting aside a destination that cannot be claimed from).
      await this.#writer.written()
      const room = this.#room
      claimed = room > 0 ? await this.#claim(room) : []
    }
    this.#o.metrics.claimed(claimed.length)
    this.#ahead.push(...claimed)
    this.#sendAhead()
    if (claimed.length > 0) {
      this.#hotUntil = Date.now() + HOT_MS
    }
    return claimed.length
  }

  async #settleAndClaim(
    records: AttemptRecord[],
  ): Promise<{ dropped: ReadonlySet<string>; result: ClaimedDelivery[] }> {
    const room = this.#room
    if (records.length === 0) {
      return { dropped: new Set(), result: room > 0 ? await this.#claim(room) : [] }
    }
    // With no room (stopping), the claim's limit is 0: the outcomes are written, nothing claimed.
    const { claimed, dropped } = await settleAndClaim(this.#o.db, records, this.#policy, this.#request(room))
    return { dropped, result: claimed }
  }

  /** Deliveries the next claim may take: none while stopping or while outcomes cannot be written. */
  get #room(): number {
    return this.#stopping || this.#writer.failing ? 0 : this.#open
  }

  /** Free slots, and those about to be (see AHEAD_MS), less what was claimed ahead for them. */
  get #open(): number {
    return Math.max(0, this.#slots.free + this.#slots.endingSoon(AHEAD_MS) - this.#ahead.length)
  }

  #claim(room: number): Promise<ClaimedDelivery[]> {
    return claim(this.#o.db, this.#o.logger, this.#o.metrics, this.#request(room))
  }

  #request(room: number): ClaimRequest {
    // A delivery claimed ahead may wait for its slot as long as a request can take (every
    // request in flight ends within the timeout): its lease covers that wait too, so that its
    // outcome keeps the whole margin to be written in.
    const ahead = room > this.#slots.free
    return {
      limit: Math.min(room, CLAIM_BATCH),
      leaseMs: this.#o.requestTimeoutMs * (ahead ? 2 : 1) + this.#o.leaseMarginMs,
      defaultCap: this.#o.destinationConcurrency,
      poolId: this.#o.poolId,
      passedOver: this.#slots.passedOver(),
      takeOverAfterMs: Math.max(0, this.#quietUntil - Date.now()),
    }
  }

  /**
   * Under load, claim in chunks: waking for every finished request would lease one delivery per
   * statement, and statements per delivery are what PostgreSQL pays for.
   */
  get #refill(): number {
    return Math.max(1, Math.floor(this.#o.concurrency / 4))
  }

  /**
   * Having claimed, waits for a quarter of the slots to be free or about to be (see AHEAD_MS;
   * outcomes meanwhile wait for the next claim, OUTCOME_LINGER_MS at most); having claimed
   * nothing, polls.
   */
  async #pauseClaims(claimed: boolean): Promise<void> {
    if (!claimed) {
      this.#writer.resume()
      await this.#idle(this.#claims, CLAIM_HOT_POLL_MS)
      return
    }
    const lingerUntil = Date.now() + OUTCOME_LINGER_MS
    while (!this.#stopping && this.#open < this.#refill) {
      const linger = lingerUntil - Date.now()
      if (linger <= 0) {
        this.#writer.resume()
      }
      await this.#claims.wait(linger > 0 ? linger : this.#o.pollIntervalMs)
    }
  }

  /** Waits for `signal` up to `hotPollMs` while work flows, up to the poll interval when idle. */
  async #idle(signal: Signal, hotPollMs: number): Promise<void> {
    const hot = Date.now() < Math.max(this.#hotUntil, this.#heartbeat.advertisedUntil + GRACE_MS)
    await signal.wait(hot ? hotPollMs : this.#o.pollIntervalMs)
  }

  /** Sends what was claimed, as far as there are free slots (all of it once stopping aborted). */
  #sendAhead(): void {
    while (this.#ahead.length > 0 && (this.#slots.free > 0 || this.#abort.signal.aborted)) {
      this.#send(this.#ahead.shift() as ClaimedDelivery)
    }
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
        this.#sendAhead()
        this.#claims.fire()
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
