/** A request outstanding this long makes its destination slow. */
export const SLOW_AFTER_MS = 1_000
/** The share of a worker's slots that slow destinations may hold together. */
export const SLOW_SHARE = 3 / 4
/** How many destinations' last request durations are kept (the most recently ended). */
const DURATIONS_KEPT = 10_000

/**
 * The worker's request slots (WORKER_CONCURRENCY) and which destination holds each. Caps and
 * turns are kept by the database across workers; this keeps a worker's own slots from filling up
 * with requests to destinations that answer slowly or not at all (each still within its cap),
 * where every other customer's webhooks would wait for their timeouts: once slow destinations
 * hold SLOW_SHARE of the slots, the next claims pass them over, and the rest stays free for the
 * others.
 */
export class Slots {
  readonly size: number
  readonly #now: () => number
  /** Per destination, the start times of its requests in flight. */
  readonly #held = new Map<number, number[]>()
  /** Per destination, how long its last request took (ms); in the order they last ended. */
  readonly #took = new Map<number, number>()
  /** How long requests take here, a moving average over all destinations (ms). */
  #typical: number | undefined
  #used = 0

  constructor(size: number, now: () => number = Date.now) {
    this.size = size
    this.#now = now
  }

  get used(): number {
    return this.#used
  }

  get free(): number {
    return this.size - this.#used
  }

  /** A request to `destinationId` starts; returns its release, to call once when it ends. */
  take(destinationId: number): () => void {
    const startedAt = this.#now()
    const starts = this.#held.get(destinationId) ?? []
    starts.push(startedAt)
    this.#held.set(destinationId, starts)
    this.#used++
    let released = false
    return () => {
      if (released) {
        return
      }
      released = true
      this.#used--
      starts.splice(starts.indexOf(startedAt), 1)
      if (starts.length === 0) {
        this.#held.delete(destinationId)
      }
      const took = this.#now() - startedAt
      this.#typical = this.#typical === undefined ? took : this.#typical + (took - this.#typical) / 16
      this.#took.delete(destinationId)
      this.#took.set(destinationId, took)
      if (this.#took.size > DURATIONS_KEPT) {
        const oldest = this.#took.keys().next()
        if (!oldest.done) {
          this.#took.delete(oldest.value)
        }
      }
    }
  }

  /**
   * Requests in flight that should end within about `ms`: they started less than `ms` ago, to a
   * destination whose last request took no longer than that (one that has not answered yet is
   * judged by how long requests take here on average). Under load, those end before a claim
   * made now returns. Before any request has ended, none counts.
   */
  endingSoon(ms: number): number {
    const since = this.#now() - ms
    let soon = 0
    for (const [destinationId, starts] of this.#held) {
      if ((this.#took.get(destinationId) ?? this.#typical ?? Number.POSITIVE_INFINITY) > ms) {
        continue
      }
      // In start order: count from the newest back.
      for (let i = starts.length - 1; i >= 0 && (starts[i] ?? 0) > since; i--) {
        soon++
      }
    }
    return soon
  }

  /** The destinations the next claim should pass over: none until slow ones hold their share. */
  passedOver(): number[] {
    const slowSince = this.#now() - SLOW_AFTER_MS
    const slow: number[] = []
    let slowHeld = 0
    for (const [destinationId, starts] of this.#held) {
      // Start times are pushed in order: the first is the oldest still in flight.
      if ((starts[0] ?? Number.POSITIVE_INFINITY) <= slowSince) {
        slow.push(destinationId)
        slowHeld += starts.length
      }
    }
    return slowHeld >= this.size * SLOW_SHARE ? slow : []
  }
}
