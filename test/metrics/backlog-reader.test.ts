import { describe, expect, it } from 'vitest'
import { createBacklogReader } from '../../src/metrics/backlog-reader.ts'
import type { Backlog } from '../../src/store/backlog.ts'

const backlog = (due: number): Backlog => ({
  due,
  eventsAwaitingFanOut: 0,
  oldestDueSeconds: 0,
  heldBack: 0,
  awaitingRetry: 0,
  deliveriesSetAside: 0,
  eventsSetAside: 0,
  destinationsSetAside: 0,
  droppedLastHour: 0,
  destinationsBackingOff: 0,
})

/** A read whose answers the test gives by hand, counting the reads made. */
function manualRead() {
  const pending: Array<{ resolve: (b: Backlog) => void; reject: (e: Error) => void }> = []
  return {
    pending,
    read: () =>
      new Promise<Backlog>((resolve, reject) => {
        pending.push({ resolve, reject })
      }),
  }
}

describe('the backlog reader', () => {
  it('reads the database at most once per interval however often it is scraped', async () => {
    let now = 0
    let reads = 0
    const reader = createBacklogReader({
      read: async () => backlog(++reads),
      maxAgeMs: 5_000,
      waitMs: 1_000,
      now: () => now,
    })
    expect((await reader.current())?.backlog.due).toBe(1)
    for (let i = 0; i < 20; i++) {
      now += 100
      expect((await reader.current())?.backlog.due).toBe(1)
    }
    now = 5_000
    expect((await reader.current())?.backlog.due).toBe(2)
    expect(reads).toBe(2)
  })

  it('shares one read among scrapes that come while it runs', async () => {
    const manual = manualRead()
    const reader = createBacklogReader({ read: manual.read, maxAgeMs: 0, waitMs: 60_000 })
    const scrapes = [reader.current(), reader.current(), reader.current()]
    expect(manual.pending).toHaveLength(1)
    manual.pending[0]?.resolve(backlog(7))
    for (const scrape of await Promise.all(scrapes)) {
      expect(scrape?.backlog.due).toBe(7)
    }
  })

  it('answers a scrape with the last reading when the database is slower than the wait', async () => {
    let now = 0
    const manual = manualRead()
    const reader = createBacklogReader({ read: manual.read, maxAgeMs: 5_000, waitMs: 20, now: () => now })
    const first = reader.current()
    manual.pending[0]?.resolve(backlog(3))
    expect((await first)?.readAt).toBe(0)
    now = 6_000
    // The database does not answer this time: the scrape gets the older reading after the wait.
    expect(await reader.current()).toEqual({ backlog: backlog(3), readAt: 0 })
    expect(manual.pending).toHaveLength(2)
  })

  it('counts a failed read, keeps the last reading, and tries again only after the interval', async () => {
    let now = 0
    const manual = manualRead()
    const errors: unknown[] = []
    const reader = createBacklogReader({
      read: manual.read,
      maxAgeMs: 5_000,
      waitMs: 60_000,
      now: () => now,
      onError: (error) => errors.push(error),
    })
    expect(reader.failures).toBe(0)
    const first = reader.current()
    manual.pending[0]?.reject(new Error('connection refused'))
    expect(await first).toBeUndefined()
    expect(reader.failures).toBe(1)
    expect(errors).toHaveLength(1)
    now = 1_000
    expect(await reader.current()).toBeUndefined()
    expect(manual.pending).toHaveLength(1)
    now = 5_000
    const second = reader.current()
    manual.pending[1]?.resolve(backlog(4))
    expect((await second)?.backlog.due).toBe(4)
  })
})
