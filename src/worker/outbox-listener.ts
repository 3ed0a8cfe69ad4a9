import type pg from 'pg'
import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { DeadlineError, raceDeadline, terminateBackend } from '../store/database.ts'
import { listenForRecordings, probeConnection } from '../store/outbox-channel.ts'

/** How often the listening connection must prove it still answers. */
const PROBE_MS = 5_000

/**
 * The LISTEN connection that wakes an idle dispatcher when a recorder NOTIFYs. When its
 * connection breaks (a restart, a failover, a terminated backend) the client goes back to the
 * pool as broken: kept, the pool would count it as checked out forever and pool.end() would never
 * settle. Polling covers the gap; the next ensure() listens again. A connection that went silent
 * raises no error, so ensure() also probes it every few seconds, and one that does not answer
 * within `deadlineMs` is dropped the same way.
 */
export class OutboxListener {
  readonly #pool: pg.Pool
  readonly #logger: Logger
  readonly #onWake: () => void
  readonly #deadlineMs: number
  #client: pg.PoolClient | undefined
  #drop: ((error: Error) => void) | undefined
  /** Gives the current connection back, once: close() and a late error both end up here. */
  #release: (() => void) | undefined
  #connecting: Promise<void> | undefined
  #probedAt = 0
  #probing = false
  #closed = false

  constructor(pool: pg.Pool, logger: Logger, onWake: () => void, deadlineMs: number) {
    this.#pool = pool
    this.#logger = logger
    this.#onWake = onWake
    this.#deadlineMs = deadlineMs
  }

  /** Listens unless it already does (or is closed). Never throws: polling covers a failure. */
  ensure(): Promise<void> {
    if (this.#closed) {
      return Promise.resolve()
    }
    if (this.#client !== undefined) {
      if (!this.#probing && Date.now() - this.#probedAt >= PROBE_MS) {
        void this.#probe(this.#client)
      }
      return Promise.resolve()
    }
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined
    })
    return this.#connecting
  }

  /** Drops the connection; destroyed rather than pooled, since it is still subscribed. */
  close(): void {
    this.#closed = true
    // Not #client.release(): the server's goodbye (57P01 at a shutdown) may still arrive, and
    // its error handler releasing the client a second time made pg-pool throw, uncaught.
    this.#release?.()
    this.#client = undefined
    this.#drop = undefined
    this.#release = undefined
  }

  async #connect(): Promise<void> {
    let client: pg.PoolClient | undefined
    let released = false
    const release = (error?: Error) => {
      if (client !== undefined && !released) {
        released = true
        if (this.#client === client) {
          this.#client = undefined
        }
        client.release(error ?? true)
      }
    }
    const drop = (error: Error) => {
      release(error)
      // Whatever was notified while the connection died is found by polling now.
      if (!this.#closed) {
        this.#onWake()
      }
    }
    try {
      client = await this.#pool.connect()
      client.on('notification', () => this.#onWake())
      client.once('error', drop)
      const listening = client
      await raceDeadline(listenForRecordings(client), this.#deadlineMs, () => {
        const error = new DeadlineError(
          `LISTEN got no answer within ${this.#deadlineMs} ms`,
          terminateBackend(this.#pool, listening, this.#deadlineMs),
        )
        release(error)
        return error
      })
      if (this.#closed || released) {
        release()
        return
      }
      this.#client = client
      this.#drop = drop
      this.#release = () => release()
      this.#probedAt = Date.now()
    } catch (error) {
      this.#logger.warn({ err: coerceError(error) }, 'could not LISTEN; relying on polling')
      release(coerceError(error))
    }
  }

  /** `select 1` on the listening connection; no answer within the deadline drops it. */
  async #probe(client: pg.PoolClient): Promise<void> {
    this.#probing = true
    try {
      await raceDeadline(probeConnection(client), this.#deadlineMs, () => {
        const error = new DeadlineError(`the LISTEN connection did not answer within ${this.#deadlineMs} ms`)
        if (this.#client === client) {
          this.#logger.warn(
            { deadlineMs: this.#deadlineMs },
            'the LISTEN connection went silent; listening again',
          )
          void terminateBackend(this.#pool, client, this.#deadlineMs)
          this.#drop?.(error)
        }
        return error
      })
    } catch {
      // Dropped above, or, if broken, by its error event.
    } finally {
      this.#probedAt = Date.now()
      this.#probing = false
    }
  }
}
