import type { Backlog } from '../store/backlog.ts'

export type BacklogReading = { backlog: Backlog; readAt: number }

export type BacklogReaderOptions = {
  /** The one backlog query (src/store/backlog.ts). */
  read: () => Promise<Backlog>
  /** A reading younger than this is served again rather than read anew. */
  maxAgeMs: number
  /** A scrape waits this long for a fresh reading, then gets the last one. */
  waitMs: number
  now?: () => number
  onError?: (error: unknown) => void
}

export type BacklogReader = {
  /** The freshest reading there is, or undefined if none ever succeeded. */
  current(): Promise<BacklogReading | undefined>
  /** Readings that failed (or outlasted the wait and then failed). */
  readonly failures: number
}

/**
 * The backlog for scrapes: read at most once per `maxAgeMs` however many scrapers ask, one read
 * at a time, and never holding a scrape up for longer than `waitMs` (a slow or unreachable
 * database then shows as a stale `readAt`, not as a failed scrape).
 */
export function createBacklogReader(options: BacklogReaderOptions): BacklogReader {
  const now = options.now ?? Date.now
  let last: BacklogReading | undefined
  let lastTriedAt = Number.NEGATIVE_INFINITY
  let reading: Promise<void> | undefined
  let failures = 0

  const refresh = (): Promise<void> => {
    lastTriedAt = now()
    reading ??= options
      .read()
      .then(
        (backlog) => {
          last = { backlog, readAt: now() }
        },
        (error: unknown) => {
          failures++
          options.onError?.(error)
        },
      )
      .finally(() => {
        reading = undefined
      })
    return reading
  }

  return {
    async current() {
      if (reading === undefined && now() - lastTriedAt >= options.maxAgeMs) {
        void refresh()
      }
      if (reading !== undefined) {
        let timer: NodeJS.Timeout | undefined
        const waited = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.waitMs)
        })
        await Promise.race([reading, waited])
        clearTimeout(timer)
      }
      return last
    },
    get failures() {
      return failures
    },
  }
}
