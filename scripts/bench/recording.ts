import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { ORG, waitDrained } from './database.ts'

/**
 * The render service's status-change transaction, alone or with one of the two ways to record
 * it; `row` adds only the INSERT of the same event row (with its idempotency key) as a statement
 * of its own: the floor any outbox write pays, against which recording's own work shows.
 */
export type RecordingMode = 'plain' | 'record' | 'add_job' | 'row'
export const RECORDING_MODES: readonly RecordingMode[] = ['plain', 'record', 'add_job']

export type RecordingRates = { clients: number; commitsPerSecond: Partial<Record<RecordingMode, number>> }

/**
 * One transaction as a single round trip (simple query protocol, several statements). The
 * load generator shares the machine's two cores with PostgreSQL; sending each statement
 * separately would charge the recording modes an extra round trip of the generator's own CPU
 * (about 100 µs in node-postgres), which the render service, on its own machines, does not
 * take from the database server. Values are bench-generated ids, quoted all the same.
 */
function transaction(mode: RecordingMode, row: number, renderId: string, webhookUrl: string): string {
  const id = pg.escapeLiteral(renderId)
  const resultUrl = pg.escapeLiteral(`https://storage.imtegrate.com/renders/${renderId}.png`)
  const url = pg.escapeLiteral(webhookUrl)
  const update = `update public.bench_renders set status = 'completed', updated_at = now() where id = ${row};`
  if (mode === 'record') {
    return `begin; ${update} select webhooks.record_render_status(org_id => '${ORG}', render_id => ${id},
      kind => 'image', status => 'completed', template_id => 'tpl_bench', result_url => ${resultUrl},
      duration_ms => 3210, webhook_url => ${url}); commit;`
  }
  if (mode === 'row') {
    const data = pg.escapeLiteral(
      JSON.stringify({
        id: renderId,
        status: 'completed',
        result_url: `https://storage.imtegrate.com/renders/${renderId}.png`,
        template_id: 'tpl_bench',
        duration_ms: 3210,
      }),
    )
    return `begin; ${update} insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
      values (webhooks.new_id('evt'), '${ORG}', 'image.completed', ${id}, ${url}, ${data}, date_trunc('second', now()))
      on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing; commit;`
  }
  if (mode === 'add_job') {
    // The textbook design: a job per event, carrying what the fan-out job would need.
    return `begin; ${update} select (graphile_worker.add_job('bench_event', json_build_object(
      'org_id', '${ORG}', 'render_id', ${id}, 'status', 'completed', 'result_url', ${resultUrl},
      'webhook_url', ${url}))).id; commit;`
  }
  return `begin; ${update} commit;`
}

const ROWS_PER_CLIENT = 1_000
/** New backends spend their first ~100 ms of CPU warming caches and compiling plpgsql. */
const WARMUP_MS = 1_000
let runs = 0

type Run = { mode: RecordingMode; ms: number; warmupMs: number; webhookUrl: string }

/** Each client loops BEGIN; UPDATE; [record;] COMMIT; returns the commits counted over `ms`. */
async function runClients(clients: readonly pg.Client[], run: Run): Promise<number> {
  const tag = `${run.mode.replace('_', '')}${++runs}`
  let measuring = false
  let stopped = false
  let commits = 0
  const loop = async (client: pg.Client, index: number) => {
    for (let seq = 0; !stopped; seq++) {
      const row = index * ROWS_PER_CLIENT + (seq % ROWS_PER_CLIENT) + 1
      await client.query(transaction(run.mode, row, `img_${tag}_${index}_${seq}`, run.webhookUrl))
      if (measuring) {
        commits++
      }
    }
  }
  const loops = Promise.all(clients.map(loop))
  try {
    await delay(run.warmupMs)
    measuring = true
    await delay(run.ms)
    measuring = false
    return commits
  } finally {
    stopped = true
    await loops
  }
}

export type RecordingPlan = { clientCounts: readonly number[]; seconds: number; rounds: number }
export type RecordingSetup = {
  url: string
  pool: pg.Pool
  webhookUrl: string
  modes: readonly RecordingMode[]
  /** Whether a worker runs (and so drains what is recorded between runs). */
  worker: boolean
}

/**
 * Commits per second of each mode at each client count. The clients stay connected across
 * modes; modes alternate within a round, so noise from elsewhere on the machine hits them
 * alike. Between runs a running worker drains what was recorded, and the jobs of the add_job
 * runs are removed.
 */
export async function measureRecording(
  setup: RecordingSetup,
  plan: RecordingPlan,
  log: (line: string) => void,
): Promise<RecordingRates[]> {
  const results: RecordingRates[] = []
  for (const count of plan.clientCounts) {
    const clients = await connect(setup.url, count)
    try {
      const commits: Partial<Record<RecordingMode, number>> = {}
      let warmupMs = Math.min(WARMUP_MS, plan.seconds * 1000)
      for (let round = 0; round < plan.rounds; round++) {
        for (const mode of setup.modes) {
          const n = await runClients(clients, {
            mode,
            ms: plan.seconds * 1000,
            warmupMs,
            webhookUrl: setup.webhookUrl,
          })
          warmupMs = 200
          commits[mode] = (commits[mode] ?? 0) + n
          log(
            `recording ${mode}, ${count} clients${setup.worker ? '' : ', no worker'}: ${Math.round(n / plan.seconds)} commits/s`,
          )
          await settle(setup, mode)
        }
      }
      const perSecond = Object.entries(commits).map(([mode, n]) => [mode, n / (plan.seconds * plan.rounds)])
      results.push({ clients: count, commitsPerSecond: Object.fromEntries(perSecond) })
    } finally {
      await Promise.all(clients.map((client) => client.end()))
    }
  }
  return results
}

async function connect(url: string, count: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'imtegrate-bench-render' })
      // A bench stopped midway drops its database under open connections: not a crash of its own.
      client.on('error', (error) => console.error('bench recording connection:', error.message))
      await client.connect()
      return client
    }),
  )
}

async function settle(setup: RecordingSetup, mode: RecordingMode): Promise<void> {
  if (mode === 'add_job') {
    // Nothing runs bench_event jobs; left queued they would slow every later get_job.
    await setup.pool.query(`delete from graphile_worker._private_jobs
      where task_id = (select id from graphile_worker._private_tasks where identifier = 'bench_event')`)
  }
  if (setup.worker) {
    await waitDrained(setup.pool, 120_000)
  }
  await setup.pool.query('vacuum public.bench_renders')
}
