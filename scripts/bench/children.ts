import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import type { ReceiverReply, ReceiverRequest } from './receiver.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const live = new Set<ChildProcess>()

/** Every child this process started and that still runs, killed at once (the bench is failing). */
export function killAllChildren(): void {
  for (const child of live) {
    child.kill('SIGKILL')
  }
}

export type Child = {
  pid: number
  process: ChildProcess
  /** The last few KB the child wrote, for the error message when it misbehaves. */
  output(): string
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

/** Runs `node <args>` from the project root with a minimal, explicit environment. */
function launch(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  if (child.pid === undefined) {
    throw new Error(`could not start node ${args.join(' ')}`)
  }
  live.add(child)
  let tail = ''
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => live.delete(child))
  return {
    pid: child.pid,
    process: child,
    output: () => tail,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return
      }
      child.kill('SIGTERM')
      const grace = new AbortController()
      const timer = delay(graceMs, 'timeout', { signal: grace.signal }).catch(() => 'exited')
      const outcome = await Promise.race([exited, timer])
      grace.abort()
      if (outcome === 'timeout') {
        child.kill('SIGKILL')
        await exited
      }
    },
  }
}

/** Waits for `ready(signal)`; fails if the child exits or `timeoutMs` passes first. */
async function untilReady<T>(
  child: Child,
  what: string,
  ready: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
): Promise<T> {
  const done = new AbortController()
  let cleanup = () => {}
  const failure = new Promise<never>((_, reject) => {
    const onExit = () => reject(new Error(`${what} exited while starting:\n${child.output()}`))
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start within ${timeoutMs}ms:\n${child.output()}`)),
      timeoutMs,
    )
    child.process.once('exit', onExit)
    cleanup = () => {
      child.process.off('exit', onExit)
      clearTimeout(timer)
    }
  })
  const task = ready(done.signal)
  task.catch(() => undefined)
  try {
    return await Promise.race([task, failure])
  } finally {
    cleanup()
    done.abort()
  }
}

export type ReceiverHandle = {
  child: Child
  url(path: string): string
  /** Requests answered so far. */
  count(): Promise<number>
  /** First arrival time (epoch ms, sub-ms precision) of each `/lat/<key>` since the last call. */
  arrivals(): Promise<Map<string, number>>
  /** Drops every request held at `/hang/...`; returns how many there were. */
  release(): Promise<number>
}

export async function startReceiver(): Promise<ReceiverHandle> {
  const child = launch(['scripts/bench/receiver.ts'], {})
  const ready = () =>
    new Promise<number>((resolve) => {
      child.process.once('message', (message: { ready: number }) => resolve(message.ready))
    })
  const port = await untilReady(child, 'the receiver', ready, 15_000)
  let nextId = 0
  const ask = (op: ReceiverRequest['op']) =>
    new Promise<ReceiverReply>((resolve) => {
      const id = ++nextId
      const onMessage = (reply: ReceiverReply) => {
        if (reply.id === id) {
          child.process.off('message', onMessage)
          resolve(reply)
        }
      }
      child.process.on('message', onMessage)
      child.process.send({ id, op } satisfies ReceiverRequest)
    })
  return {
    child,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    count: async () => (await ask('count')).count,
    arrivals: async () => new Map((await ask('arrivals')).arrivals),
    release: async () => (await ask('release')).released ?? 0,
  }
}

export type DispatcherEnv = {
  databaseUrl: string
  secretsKey: string
  concurrency: number
  /** Set: the worker serves /metrics on this port (WEBHOOK_METRICS_PORT). */
  metricsPort?: number | undefined
  /** Set: WEBHOOK_DESTINATION_CONCURRENCY, the cap of a destination without its own. */
  destinationConcurrency?: number | undefined
}

/**
 * The real worker, as production runs it: `node src/cli/main.ts worker`. Ready once its pool
 * is registered in webhooks.worker_pools, which happens just before its dispatcher starts.
 */
export async function startWorkerProcess(env: DispatcherEnv, pool: pg.Pool): Promise<Child> {
  const child = launch(['src/cli/main.ts', 'worker'], {
    NODE_ENV: 'production',
    DATABASE_URL: env.databaseUrl,
    WEBHOOK_SECRETS_KEY: env.secretsKey,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_SHUTDOWN_TIMEOUT: '2s',
    WORKER_CONCURRENCY: String(env.concurrency),
    LOG_LEVEL: 'warn',
    ...(env.metricsPort === undefined ? {} : { WEBHOOK_METRICS_PORT: String(env.metricsPort) }),
    ...(env.destinationConcurrency === undefined
      ? {}
      : { WEBHOOK_DESTINATION_CONCURRENCY: String(env.destinationConcurrency) }),
  })
  const registered = async (signal: AbortSignal) => {
    while (!signal.aborted) {
      const { rowCount } = await pool.query('select 1 from webhooks.worker_pools where pid = $1', [child.pid])
      if (rowCount) {
        return
      }
      await delay(5)
    }
  }
  await untilReady(child, 'the worker', registered, 30_000)
  return child
}

/** The naive dispatcher of scripts/bench/naive.ts; ready once its pool is connected. */
export async function startNaiveProcess(env: DispatcherEnv): Promise<Child> {
  const child = launch(['scripts/bench/naive.ts'], {
    DATABASE_URL: env.databaseUrl,
    WEBHOOK_SECRETS_KEY: env.secretsKey,
    NAIVE_IN_FLIGHT: String(env.concurrency),
  })
  const ready = () => new Promise<void>((resolve) => child.process.once('message', () => resolve()))
  await untilReady(child, 'the naive dispatcher', ready, 30_000)
  return child
}
