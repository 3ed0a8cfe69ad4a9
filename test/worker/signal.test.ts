import { describe, expect, it } from 'vitest'
import { Signal } from '../../src/worker/signal.ts'

// The dispatcher's two loops wake each other with a Signal. A fire that comes while the loop is
// busy (say, the fan-out committing while the claim loop is mid-claim) must not be lost: the
// loop's next wait returns at once instead of sleeping out its poll interval.

/** Which comes first: `wait` resolving, or a timer of `ms`. */
async function first(wait: Promise<void>, ms: number): Promise<'woken' | 'timer'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timer'>((resolve) => {
    timer = setTimeout(() => resolve('timer'), ms)
  })
  try {
    return await Promise.race([wait.then(() => 'woken' as const), timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe('Signal', () => {
  it('wakes a loop that waits', async () => {
    const signal = new Signal()
    const waiting = signal.wait(10_000)
    signal.fire()
    expect(await first(waiting, 1_000)).toBe('woken')
  })

  it('keeps a fire that came while the loop was busy, for its next wait only', async () => {
    const signal = new Signal()
    signal.fire()
    signal.fire()
    expect(await first(signal.wait(10_000), 1_000)).toBe('woken')
    // Two fires while busy are one: the wait after sleeps until its time.
    expect(await first(signal.wait(10_000), 200)).toBe('timer')
  })

  it('times out when nothing fires, and notes when the loop last went round', async () => {
    const signal = new Signal()
    const before = Date.now()
    await signal.wait(30)
    expect(Date.now() - before).toBeGreaterThanOrEqual(25)
    expect(signal.aliveAt).toBeGreaterThanOrEqual(before)
    const roundAt = Date.now()
    signal.round()
    expect(signal.aliveAt).toBeGreaterThanOrEqual(roundAt)
  })
})
