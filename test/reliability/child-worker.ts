import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

export type ChildWorker = {
  process: ChildProcess
  /** Everything the child wrote (JSON log lines), for assertions and for debugging failures. */
  output(): string
  /** Resolves with the exit code (or the signal's name) once the child is gone. */
  exited: Promise<number | string>
  /** Kills the child if it still runs; for afterAll. */
  dispose(): Promise<void>
}

/** Children spawned and not yet disposed of. */
const spawned = new Set<ChildWorker>()

/**
 * `imtegrate-webhooks <args>` in its own process (so it can be SIGKILLed), with exactly `env`
 * (and PATH), in `cwd` if given (the CLI of the checkout `cwd` is when `ownCli`). Every child is
 * kept for disposeChildren().
 */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  group = false,
  ownCli = false,
): ChildWorker {
  const main = ownCli && cwd !== undefined ? join(cwd, 'src/cli/main.ts') : MAIN
  const child = spawn(process.execPath, [main, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
    // A process group of its own, as a shell gives a foreground job: a signal can go to it all.
    detached: group,
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string)
  const worker: ChildWorker = {
    process: child,
    output: () => output,
    exited,
    async dispose() {
      spawned.delete(worker)
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
      }
      await exited
    },
  }
  spawned.add(worker)
  return worker
}

/**
 * The real `imtegrate-webhooks worker` command in its own process, with the quick settings of
 * test/helpers/worker.ts and whatever `env` overrides.
 */
export function spawnWorker(testDb: TestDb, env: Record<string, string> = {}): ChildWorker {
  return spawnCli(['worker'], {
    DATABASE_URL: testDb.url,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_RETRY_SCHEDULE: '100ms,100ms,100ms',
    WEBHOOK_REQUEST_TIMEOUT: '2s',
    WEBHOOK_LEASE_MARGIN: '500ms',
    WEBHOOK_SHUTDOWN_TIMEOUT: '1s',
    WEBHOOK_POLL_INTERVAL: '100ms',
    LOG_LEVEL: 'info',
    ...env,
  })
}

/** Kills every child spawned so far that still runs; for afterAll. */
export async function disposeChildren(): Promise<void> {
  await Promise.all([...spawned].map((child) => child.dispose()))
}

/** Waits until the child logged that it is running (its dispatcher is polling). */
export async function workerStarted(worker: ChildWorker, timeoutMs = 20_000): Promise<void> {
  await vi.waitFor(
    () => {
      if (worker.process.exitCode !== null) {
        throw new Error(`the worker exited early:\n${worker.output()}`)
      }
      if (!worker.output().includes('"msg":"worker started"')) {
        throw new Error('not started yet')
      }
    },
    { timeout: timeoutMs, interval: 50 },
  )
}
