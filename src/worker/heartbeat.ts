import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Db } from '../store/database.ts'
import { advertisePolling } from '../store/worker-pools.ts'
import type { OutboxListener } from './outbox-listener.ts'

/** How often the pool beats. */
const BEAT_MS = 500
/** How far ahead a hot dispatcher advertises that it polls. */
export const ADVERTISE_MS = 2_000

export type HeartbeatOptions = {
  db: Db
  poolId: string
  logger: Logger
  listener: OutboxListener
  /** Whether the dispatcher is hot (polling quickly) now. */
  hot(): boolean
  /** The pool promised to poll: a loop asleep in its slow poll must come back to keep it. */
  promised(): void
}

/**
 * The worker pool's heartbeat (webhooks.worker_pools): every BEAT_MS it says the pool is alive
 * (the reconciler frees the jobs of pools that stop beating, and claims take over the expired
 * leases of dead pools only), and whether its dispatcher is hot: a hot one promises to poll for
 * ADVERTISE_MS, so recorders skip NOTIFY, while an idle one is listening, so recorders NOTIFY. It
 * also keeps the LISTEN connection up.
 */
export class Heartbeat {
  readonly #o: HeartbeatOptions
  #timer: NodeJS.Timeout | undefined
  #beat: Promise<void> | undefined
  #advertisedUntil = 0
  #stopped = false

  constructor(options: HeartbeatOptions) {
    this.#o = options
  }

  /** Until when (ms since the epoch) a promise to poll may have been relied on. */
  get advertisedUntil(): number {
    return this.#advertisedUntil
  }

  start(): void {
    // One beat at a time: beats overtaking each other could write an older promise last.
    this.#timer = setInterval(() => {
      this.#beat ??= this.#once().finally(() => {
        this.#beat = undefined
      })
    }, BEAT_MS)
    this.#timer.unref()
  }

  /** Stops beating; a beat under way would otherwise write the pool's row back after it is removed. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#beat
  }

  async #once(): Promise<void> {
    const hot = this.#o.hot() && !this.#stopped
    try {
      if (hot) {
        // Set before the write commits, from when a recorder may rely on it, and again after:
        // the row's promise runs from when the write ran, however long it took to get there.
        this.#advertisedUntil = Date.now() + ADVERTISE_MS
        await advertisePolling(this.#o.db, this.#o.poolId, ADVERTISE_MS)
        this.#advertisedUntil = Date.now() + ADVERTISE_MS
        this.#o.promised()
      } else {
        await advertisePolling(this.#o.db, this.#o.poolId, null)
      }
      if (!this.#stopped) {
        // Not awaited: making the LISTEN connection again must not hold up the heartbeat.
        void this.#o.listener.ensure()
      }
    } catch (error) {
      this.#o.logger.warn({ err: coerceError(error) }, 'heartbeat failed')
    }
  }
}
