import { errorText } from '../errors.ts'
import type { Db } from '../store/database.ts'
import { raceDeadline } from '../store/database.ts'
import type { StoredReadiness } from '../store/health.ts'
import { pingDb, readReadiness } from '../store/health.ts'
import type { DatabaseProbe } from './health.ts'

export type Probes = {
  /** Whether the database answers, within `withinMs`. */
  ping(): Promise<DatabaseProbe>
  /** What readiness needs from the database, or why it could not be read within `withinMs`. */
  readiness(): Promise<{ probe: DatabaseProbe; stored?: StoredReadiness }>
}

/** `run()`, shared by every caller while it runs: one statement at a time, however often asked. */
function shared<T>(run: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined
  return () => {
    running ??= run().finally(() => {
      running = undefined
    })
    return running
  }
}

/**
 * The database probes behind /healthz and /readyz: answered within `withinMs` however the
 * database behaves (`poolId`: the worker pool, once graphile-worker started it). A statement that outlasts that keeps running (until the pool's own deadline)
 * and later probes wait on it rather than send another, so probes cannot take the pool.
 */
export function createProbes(db: Db, withinMs: number, poolId: () => string | undefined): Probes {
  const late = () => new Error(`no answer from PostgreSQL within ${withinMs} ms`)
  const pinging = shared(() => pingDb(db))
  const reading = shared(() => readReadiness(db, poolId()))
  return {
    async ping() {
      try {
        await raceDeadline(pinging(), withinMs, late)
        return undefined
      } catch (error) {
        return errorText(error)
      }
    },
    async readiness() {
      try {
        return { probe: undefined, stored: await raceDeadline(reading(), withinMs, late) }
      } catch (error) {
        return { probe: errorText(error) }
      }
    },
  }
}
