import { parseArgs } from 'node:util'

export type BenchMode = 'full' | 'quick' | 'tiny'

/** How much load each phase gets. The full plan is what the targets are stated for. */
export type Plan = {
  mode: BenchMode
  /** The whole run should end within this; the 1M drain is shortened to fit it. */
  budgetMs: number
  /** The drain stops recording this long before budgetMs: time to drain what is still queued. */
  drainMarginMs: number
  workerConcurrency: number
  recording: { clientCounts: readonly number[]; seconds: number; rounds: number }
  latency: { rate: number; seconds: number }
  /** Deliveries held by each of the ten hanging destinations while latency is measured beside them. */
  hanging: { perDestination: number; seconds: number }
  /**
   * Deliveries to one destination that allows 64 in flight, and to one at the default cap;
   * events × 10 endpoints; deliveries over `destinations` destinations; the naive dispatcher's.
   * The target drains (single, ten, many) run `rounds` times, each round between two of the
   * naive dispatcher's drains; the others run once.
   */
  throughput: {
    rounds: number
    single: number
    capped: number
    tenEvents: number
    many: number
    destinations: number
    naive: number
  }
  /** Metrics off and on, alternated `rounds` times: a fresh worker each, latency then a drain. */
  metrics: { rounds: number; latencySeconds: number; drain: number }
  emptyJobs: { default: number; localQueue: number; concurrency: number }
  http: { seconds: number; inFlight: number }
  /** The drain stops recording drainMarginMs before budgetMs (fewer than drainEvents) unless drainFixed (--drain-events). */
  backlog: {
    retries: number
    latencySeconds: number
    drainEvents: number
    drainFixed: boolean
    chunk: number
  }
}

const full: Plan = {
  mode: 'full',
  budgetMs: 550_000,
  drainMarginMs: 30_000,
  // The worker's default WORKER_CONCURRENCY: the targets are stated for it.
  workerConcurrency: 64,
  recording: { clientCounts: [8, 32], seconds: 4, rounds: 2 },
  latency: { rate: 200, seconds: 20 },
  hanging: { perDestination: 200, seconds: 20 },
  throughput: {
    rounds: 3,
    single: 10_000,
    capped: 4_000,
    tenEvents: 1_000,
    many: 10_000,
    destinations: 1_000,
    naive: 10_000,
  },
  metrics: { rounds: 3, latencySeconds: 8, drain: 10_000 },
  emptyJobs: { default: 6_000, localQueue: 30_000, concurrency: 16 },
  http: { seconds: 3, inFlight: 64 },
  backlog: { retries: 500_000, latencySeconds: 15, drainEvents: 1_000_000, drainFixed: false, chunk: 10_000 },
}

export const PLANS: Record<BenchMode, Plan> = {
  full,
  quick: {
    ...full,
    mode: 'quick',
    budgetMs: 110_000,
    drainMarginMs: 10_000,
    recording: { clientCounts: [8, 32], seconds: 1.5, rounds: 1 },
    latency: { rate: 200, seconds: 6 },
    hanging: { perDestination: 200, seconds: 6 },
    throughput: {
      rounds: 2,
      single: 3_000,
      capped: 1_000,
      tenEvents: 300,
      many: 3_000,
      destinations: 1_000,
      naive: 3_000,
    },
    metrics: { rounds: 1, latencySeconds: 3, drain: 3_000 },
    emptyJobs: { default: 2_000, localQueue: 10_000, concurrency: 16 },
    http: { seconds: 1.5, inFlight: 64 },
    backlog: { retries: 50_000, latencySeconds: 4, drainEvents: 20_000, drainFixed: false, chunk: 5_000 },
  },
  tiny: {
    ...full,
    mode: 'tiny',
    budgetMs: 150_000,
    drainMarginMs: 10_000,
    recording: { clientCounts: [8, 32], seconds: 0.4, rounds: 1 },
    latency: { rate: 100, seconds: 1 },
    hanging: { perDestination: 20, seconds: 1 },
    throughput: {
      rounds: 1,
      single: 300,
      capped: 100,
      tenEvents: 30,
      many: 1_000,
      destinations: 1_000,
      naive: 300,
    },
    metrics: { rounds: 1, latencySeconds: 0.5, drain: 200 },
    emptyJobs: { default: 100, localQueue: 300, concurrency: 16 },
    http: { seconds: 0.3, inFlight: 16 },
    backlog: { retries: 2_000, latencySeconds: 1, drainEvents: 1_000, drainFixed: false, chunk: 500 },
  },
}

const USAGE = 'usage: npm run bench -- [--quick | --tiny] [--no-write] [--concurrency N] [--drain-events N]'

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`)
  return process.exit(2)
}

const count = (flag: string, text: string) =>
  /^[1-9]\d*$/.test(text) ? Number(text) : usage(`${flag} takes a positive whole number, got ${text}`)

/** The plan the command line asks for, and whether to rewrite docs/benchmarks.md (full runs). */
export function planFromArgs(args: string[]): { plan: Plan; write: boolean } {
  const options = {
    quick: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    concurrency: { type: 'string' },
    'drain-events': { type: 'string' },
  } as const
  let values: ReturnType<typeof parseArgs<{ options: typeof options }>>['values']
  try {
    values = parseArgs({ args, options }).values
  } catch (error) {
    return usage((error as Error).message)
  }
  const mode: BenchMode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full'
  const plan = { ...PLANS[mode] }
  if (values.concurrency !== undefined) {
    plan.workerConcurrency = count('--concurrency', values.concurrency)
  }
  if (values['drain-events'] !== undefined) {
    // The whole 1,000,000-event drain does not fit in ten minutes on two cores: run it this way.
    const drainEvents = count('--drain-events', values['drain-events'])
    plan.backlog = { ...plan.backlog, drainEvents, drainFixed: true }
    plan.budgetMs += drainEvents
  }
  return { plan, write: mode === 'full' && !values['no-write'] }
}
