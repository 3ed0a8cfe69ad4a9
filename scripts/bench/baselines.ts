import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { WorkerEvents } from 'graphile-worker'
import { Logger, run } from 'graphile-worker'
import type pg from 'pg'
import { createHttpClient } from '../../src/delivery/http.ts'
import { generateSecret, signatureHeaders } from '../../src/delivery/sign.ts'
import { createPool } from '../../src/store/database.ts'
import { until } from './database.ts'

export type EmptyJobSettings = 'default' | 'local_queue'

const silent = new Logger(() => () => {})

/**
 * graphile-worker's rate for jobs that do nothing: `jobs` added with one add_jobs call, then a
 * runner with a no-op task, timed from the runner being up to the last job succeeding.
 * `default`: graphile-worker's defaults at `concurrency` (one get_job and one completion per
 * job). `local_queue`: a 500-job local queue and batched completion, its fast configuration.
 */
export async function emptyJobRate(
  url: string,
  settings: EmptyJobSettings,
  options: { jobs: number; concurrency: number },
): Promise<number> {
  const pool = createPool(url, options.concurrency + 4)
  try {
    await pool.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select json_populate_record(null::graphile_worker.job_spec, json_build_object('identifier', 'bench_empty'))
         from generate_series(1, $1::int)))`,
      [options.jobs],
    )
    return await runEmptyJobs(pool, settings, options)
  } finally {
    await pool.end()
  }
}

async function runEmptyJobs(
  pool: pg.Pool,
  settings: EmptyJobSettings,
  options: { jobs: number; concurrency: number },
): Promise<number> {
  let done = 0
  const events: WorkerEvents = new EventEmitter()
  events.on('job:success', () => {
    done++
  })
  const worker =
    settings === 'local_queue'
      ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
      : {}
  const runner = await run({
    pgPool: pool,
    concurrency: options.concurrency,
    noHandleSignals: true,
    logger: silent,
    events,
    taskList: { bench_empty: async () => {} },
    preset: { worker },
  })
  const start = performance.now()
  try {
    await until('the empty jobs to run', async () => done >= options.jobs, 120_000, 5)
    return (options.jobs / (performance.now() - start)) * 1000
  } finally {
    await runner.stop()
  }
}

/**
 * The HTTP client alone: the project's undici client POSTing a signed 1 KB body to the
 * receiver, `inFlight` at a time, for `seconds`. Requests per second.
 */
export async function rawHttpRate(
  url: string,
  options: { seconds: number; inFlight: number },
): Promise<number> {
  const http = createHttpClient({ timeoutMs: 10_000 })
  const secret = generateSecret()
  const body = JSON.stringify({
    type: 'image.completed',
    created_at: new Date().toISOString(),
    data: { id: 'img_raw', status: 'completed', padding: randomBytes(440).toString('hex') },
  })
  let count = 0
  const lanes = async (ms: number) => {
    const end = performance.now() + ms
    const lane = async (lane: number) => {
      for (let i = 0; performance.now() < end; i++) {
        const id = `dlv_raw_${lane}_${i}`
        const headers = signatureHeaders({ current: secret }, id, Math.floor(Date.now() / 1000), body)
        await http.post(url, { ...headers, 'x-imtegrate-delivery-id': id }, body)
        count++
      }
    }
    await Promise.all(Array.from({ length: options.inFlight }, (_, i) => lane(i)))
  }
  try {
    // Both processes JIT-compile their HTTP paths first: a cold second runs at a third of the rate.
    await lanes(Math.min(2_000, options.seconds * 1000))
    count = 0
    const start = performance.now()
    await lanes(options.seconds * 1000)
    return (count / (performance.now() - start)) * 1000
  } finally {
    await http.close()
  }
}
