import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import type { WriteStream } from 'node:fs'
import { createWriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
/** A supervisor's pause before restarting a worker that exited by itself. */
const RESTART_DELAY_MS = 500

type Member = { child: ChildProcess; startedAt: number; planned: boolean; exited: Promise<void> }

export type Exit = { pid: number; code: number | null; signal: string | null; at: number }

/**
 * Runs `size` worker processes (`imtegrate-webhooks worker`) and plays their supervisor: a
 * worker that exits without being told to is counted and replaced, as systemd or Kubernetes
 * would. Their output goes to one log file.
 */
export class WorkerFleet {
  readonly kills: Array<{ pid: number; at: number }> = []
  readonly unplannedExits: Exit[] = []
  readonly #env: Record<string, string>
  readonly #size: number
  readonly #log: WriteStream
  readonly #members = new Set<Member>()
  #stopping = false

  constructor(options: { env: Record<string, string>; size: number; logFile: string }) {
    this.#env = options.env
    this.#size = options.size
    this.#log = createWriteStream(options.logFile, { flags: 'a' })
    this.#log.on('error', () => undefined)
  }

  fill(): void {
    while (!this.#stopping && this.#members.size < this.#size) {
      this.#spawn()
    }
  }

  get pids(): number[] {
    return [...this.#members].flatMap((m) => (m.child.pid === undefined ? [] : [m.child.pid]))
  }

  /** SIGKILLs the oldest worker that has run for at least `minAgeMs`, and starts its replacement. */
  killOne(minAgeMs: number): number | undefined {
    const now = Date.now()
    const victim = [...this.#members]
      .filter((m) => now - m.startedAt >= minAgeMs)
      .sort((a, b) => a.startedAt - b.startedAt)[0]
    if (victim?.child.pid === undefined) {
      return undefined
    }
    victim.planned = true
    victim.child.kill('SIGKILL')
    this.kills.push({ pid: victim.child.pid, at: now })
    this.#members.delete(victim)
    this.fill()
    return victim.child.pid
  }

  /** Graceful stop (SIGTERM); a worker still running after `timeoutMs` is killed. Returns how many were. */
  async stop(timeoutMs: number): Promise<number> {
    this.#stopping = true
    const members = [...this.#members]
    for (const member of members) {
      member.planned = true
      member.child.kill('SIGTERM')
    }
    let forced = 0
    const deadline = setTimeout(() => {
      for (const member of members) {
        if (member.child.exitCode === null && member.child.signalCode === null) {
          forced++
          member.child.kill('SIGKILL')
        }
      }
    }, timeoutMs)
    await Promise.all(members.map((m) => m.exited))
    clearTimeout(deadline)
    this.#log.end()
    return forced
  }

  /** For exit hooks: kills every worker at once. */
  killAll(): void {
    this.#stopping = true
    for (const member of this.#members) {
      member.child.kill('SIGKILL')
    }
  }

  #spawn(): void {
    const child = spawn(process.execPath, [CLI, 'worker'], {
      env: { ...process.env, ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout?.pipe(this.#log, { end: false })
    child.stderr?.pipe(this.#log, { end: false })
    const member: Member = {
      child,
      startedAt: Date.now(),
      planned: false,
      exited: new Promise((resolve) => {
        // 'close', not 'exit': by then its output is flushed into the log.
        child.once('close', (code, signal) => {
          this.#onExit(member, { pid: child.pid ?? 0, code, signal, at: Date.now() })
          resolve()
        })
      }),
    }
    this.#members.add(member)
  }

  #onExit(member: Member, exit: Exit): void {
    this.#members.delete(member)
    if (member.planned || this.#stopping) {
      return
    }
    this.unplannedExits.push(exit)
    setTimeout(() => this.fill(), RESTART_DELAY_MS)
  }
}
