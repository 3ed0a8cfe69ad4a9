/** One check of a health or readiness answer: whether it passed, and a word on why not. */
export type Check = { ok: boolean; detail?: string }

export type HealthAnswer = { ok: boolean; checks: Record<string, Check> }

/** A probe of the database: undefined when it answered in time, else why not (one line). */
export type DatabaseProbe = string | undefined

export type LivenessFacts = {
  /** Date.now() when the dispatcher loop last went round; undefined before it started. */
  loopAliveAt: number | undefined
  now: number
  /** The loop is stuck once it has not gone round for this long. */
  loopStaleAfterMs: number
  database: DatabaseProbe
}

export type ReadinessFacts = {
  /** undefined: the facts were read; else why the database could not be read. */
  database: DatabaseProbe
  latestMigration: number | null
  requiredMigration: number
  poolRegistered: boolean
  stopping: boolean
}

const answer = (checks: Record<string, Check>): HealthAnswer => ({
  ok: Object.values(checks).every((check) => check.ok),
  checks,
})

const probed = (database: DatabaseProbe): Check =>
  database === undefined ? { ok: true } : { ok: false, detail: database }

/** /healthz: the dispatcher loop goes round and the database answers. Restart the worker if not. */
export function liveness(facts: LivenessFacts): HealthAnswer {
  const { loopAliveAt, now, loopStaleAfterMs } = facts
  let dispatcher: Check
  if (loopAliveAt === undefined) {
    dispatcher = { ok: false, detail: 'not started' }
  } else if (now - loopAliveAt > loopStaleAfterMs) {
    dispatcher = { ok: false, detail: `the loop has not gone round for ${now - loopAliveAt} ms` }
  } else {
    dispatcher = { ok: true }
  }
  return answer({ dispatcher, database: probed(facts.database) })
}

/** /readyz: connected, migrations current, the worker pool registered, not stopping. */
export function readiness(facts: ReadinessFacts): HealthAnswer {
  if (facts.database !== undefined) {
    return answer({ database: probed(facts.database) })
  }
  const { latestMigration, requiredMigration } = facts
  return answer({
    database: { ok: true },
    migrations:
      latestMigration !== null && latestMigration >= requiredMigration
        ? { ok: true }
        : {
            ok: false,
            detail: `migration ${requiredMigration} is needed, the database has ${latestMigration ?? 'none'}`,
          },
    pool: facts.poolRegistered ? { ok: true } : { ok: false, detail: 'the worker pool is not registered' },
    stopping: facts.stopping ? { ok: false, detail: 'the worker is stopping' } : { ok: true },
  })
}
