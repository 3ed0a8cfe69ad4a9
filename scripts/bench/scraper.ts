import { setTimeout as delay } from 'node:timers/promises'
import { freePort } from '../shared/free-port.ts'

export { freePort }

export type Scraper = {
  /** Stops scraping; resolves to the number of complete scrapes. Safe to call twice. */
  stop(): Promise<number>
}

/** Reads the worker's /metrics every second, as a Prometheus server would (more often). */
export function scrapeEverySecond(port: number): Scraper {
  const done = new AbortController()
  let scrapes = 0
  let failure: Error | undefined
  const loop = (async () => {
    while (!done.signal.aborted) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: done.signal })
        if (!res.ok) {
          throw new Error(`/metrics answered ${res.status}`)
        }
        await res.text()
        scrapes++
      } catch (error) {
        if (!done.signal.aborted) {
          failure ??= error instanceof Error ? error : new Error(String(error))
          done.abort()
        }
      }
      await delay(1_000, undefined, { signal: done.signal }).catch(() => undefined)
    }
  })()
  return {
    async stop() {
      done.abort()
      await loop
      if (failure !== undefined) {
        throw failure
      }
      return scrapes
    },
  }
}
