import { readFileSync } from 'node:fs'
import type pg from 'pg'

/** Linux reports CPU time in clock ticks; USER_HZ is 100 on every mainstream kernel (getconf CLK_TCK). */
const MICROS_PER_TICK = 10_000

/** User + system CPU of a process so far, in µs; undefined once it is gone. */
export function cpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK
  } catch {
    return undefined
  }
}

/** Resident set size of a process, in bytes; undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

/** CPU µs a process used between construction and `read()`. */
export class ProcessCpu {
  readonly #pid: number
  readonly #start: number

  constructor(pid: number) {
    this.#pid = pid
    this.#start = cpuMicros(pid) ?? 0
  }

  read(): number {
    return (cpuMicros(this.#pid) ?? this.#start) - this.#start
  }
}

/**
 * CPU µs used by the PostgreSQL backends connected to one database over a phase. Backends come
 * and go (pools open connections lazily), so their pids are re-listed every `everyMs`; a
 * backend first seen mid-phase counts from zero. The listing runs on an admin connection to
 * another database, and the bench's own connections (application_name imtegrate-bench…) are
 * left out, so only the dispatcher's backends count. Background processes (WAL writer,
 * checkpointer, autovacuum) are shared with whatever else runs on the server and are left out.
 */
export class BackendCpu {
  readonly #admin: pg.Client
  readonly #database: string
  readonly #first = new Map<number, number>()
  readonly #last = new Map<number, number>()
  #timer: NodeJS.Timeout | undefined
  #sampling: Promise<void> = Promise.resolve()

  constructor(admin: pg.Client, database: string) {
    this.#admin = admin
    this.#database = database
  }

  async start(everyMs = 250): Promise<void> {
    await this.#sample(true)
    this.#timer = setInterval(() => {
      this.#sampling = this.#sampling.then(() => this.#sample(false)).catch(() => undefined)
    }, everyMs)
  }

  /** Stops sampling; returns the CPU µs used since start(). */
  async stop(): Promise<number> {
    clearInterval(this.#timer)
    await this.#sampling
    await this.#sample(false)
    let total = 0
    for (const [pid, last] of this.#last) {
      total += last - (this.#first.get(pid) ?? 0)
    }
    return total
  }

  async #sample(initial: boolean): Promise<void> {
    const { rows } = await this.#admin.query<{ pid: number }>(
      "select pid from pg_stat_activity where datname = $1 and application_name not like 'imtegrate-bench%'",
      [this.#database],
    )
    for (const { pid } of rows) {
      const cpu = cpuMicros(pid)
      if (cpu === undefined) {
        continue
      }
      if (initial) {
        this.#first.set(pid, cpu)
      }
      this.#last.set(pid, cpu)
    }
  }
}
