import type pg from 'pg'
import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'

const CHANNEL = 'webhooks_outbox'

/**
 * The LISTEN connection that wakes an idle dispatcher when a recorder NOTIFYs. When its
 * connection breaks (a restart, a failover, a terminated backend) the client goes back to the
 * pool as broken: kept, the pool would count it as checked out forever and pool.end() would never
 * settle. Polling covers the gap; the next ensure() listens again.
 */
export class OutboxListener {
  readonly #pool: pg.Pool
  readonly #logger: Logger
  readonly #onWake: () => void
  #client: pg.PoolClient | undefined
  #connecting: Promise<void> | undefined
  #closed = false

  constructor(pool: pg.Pool, logger: Logger, onWake: () => void) {
    this.#pool = pool
    this.#logger = logger
    this.#onWake = onWake
  }

  /** Listens unless it already does (or is closed). Never throws: polling covers a failure. */
  ensure(): Promise<void> {
    if (this.#closed || this.#client !== undefined) {
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
    this.#client?.release(true)
    this.#client = undefined
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
    try {
      client = await this.#pool.connect()
      client.on('notification', () => this.#onWake())
      client.once('error', (error) => {
        release(error)
        // Whatever was notified while the connection died is found by polling now.
        this.#onWake()
      })
      await client.query(`listen ${CHANNEL}`)
      if (this.#closed || released) {
        release()
        return
      }
      this.#client = client
    } catch (error) {
      this.#logger.warn({ err: coerceError(error) }, 'could not LISTEN; relying on polling')
      release(coerceError(error))
    }
  }
}
