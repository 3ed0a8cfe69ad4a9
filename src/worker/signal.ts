/**
 * Wakes one loop that waits: `wait(ms)` resolves on the next `fire()` or after `ms`, whichever
 * comes first. A fire while the loop is busy is kept for its next wait, which then returns at
 * once: what the fire announced may have come after the loop last looked. It also keeps when
 * its loop last showed it goes round (began a round, or began to wait).
 */
export class Signal {
  #wake: (() => void) | undefined
  #fired = false
  #aliveAt = Date.now()

  /** Date.now() when the loop last began a round or a wait. */
  get aliveAt(): number {
    return this.#aliveAt
  }

  /** The loop begins a round. */
  round(): void {
    this.#aliveAt = Date.now()
  }

  fire(): void {
    if (this.#wake === undefined) {
      this.#fired = true
    } else {
      this.#wake()
    }
  }

  wait(ms: number): Promise<void> {
    this.#aliveAt = Date.now()
    if (this.#fired) {
      this.#fired = false
      return Promise.resolve()
    }
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
}
