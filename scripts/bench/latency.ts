import { setTimeout as delay } from 'node:timers/promises'
import type pg from 'pg'
import type { ReceiverHandle } from './children.ts'
import { ORG, RENDER_ROWS } from './database.ts'

export type LatencyResult = {
  sent: number
  arrived: number
  /** Events per second actually committed (the schedule may slip when commits are slow). */
  rate: number
  p50: number
  p99: number
  max: number
}

/** Nearest-rank percentile of ascending `sorted`; a missing arrival counts as infinitely late. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return Number.NaN
  }
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN
}

const now = () => performance.timeOrigin + performance.now()
// Latency probes update rows no recording client touches.
const FIRST_ROW = 32_001

/** One render status change in its own transaction; resolves to the time COMMIT returned. */
async function recordOne(
  pool: pg.Pool,
  index: number,
  renderId: string,
  webhookUrl: string,
): Promise<number> {
  const client = await pool.connect()
  try {
    await client.query('begin')
    await client.query({
      name: 'bench_update',
      text: 'update public.bench_renders set status = $2, updated_at = now() where id = $1',
      values: [FIRST_ROW + (index % (RENDER_ROWS - FIRST_ROW)), 'completed'],
    })
    await client.query({
      name: 'bench_latency_record',
      text: `select webhooks.record_render_status(org_id => '${ORG}', render_id => $1, kind => 'image',
        status => 'completed', template_id => 'tpl_bench', result_url => $2, duration_ms => 3210,
        webhook_url => $3)`,
      values: [renderId, `https://storage.imtegrate.com/renders/${renderId}.png`, webhookUrl],
    })
    await client.query('commit')
    return now()
  } finally {
    client.release()
  }
}

/**
 * Records `rate` events a second for `seconds` (open loop: each on its own schedule, whatever
 * the others do), each with a webhook_url at the receiver that names it, and measures from the
 * moment its COMMIT returned to its first arrival at the receiver. Both processes read the
 * same clock (performance.timeOrigin + performance.now()).
 */
export async function measureLatency(
  pool: pg.Pool,
  receiver: ReceiverHandle,
  options: { rate: number; seconds: number; tag: string },
): Promise<LatencyResult> {
  // Warm: the pool's connections open and the dispatcher runs hot, as in steady production.
  await steadyLoad(pool, receiver, {
    ...options,
    seconds: Math.min(1, options.seconds),
    tag: `${options.tag}warm`,
  })
  return steadyLoad(pool, receiver, options)
}

/** Gathers the receiver's arrival times until `count` arrived or 15 s passed. */
async function collectArrivals(receiver: ReceiverHandle, count: number): Promise<Map<string, number>> {
  const arrivals = new Map<string, number>()
  const deadline = performance.now() + 15_000
  while (arrivals.size < count && performance.now() < deadline) {
    for (const [key, at] of await receiver.arrivals()) {
      arrivals.set(key, at)
    }
    await delay(50)
  }
  return arrivals
}

async function steadyLoad(
  pool: pg.Pool,
  receiver: ReceiverHandle,
  options: { rate: number; seconds: number; tag: string },
): Promise<LatencyResult> {
  const count = Math.round(options.rate * options.seconds)
  const interval = 1000 / options.rate
  const committed = new Map<string, number>()
  const inFlight: Array<Promise<void>> = []
  await receiver.arrivals()
  const start = performance.now() + 20
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - performance.now()
    if (wait >= 1) {
      await delay(wait)
    }
    const key = `${options.tag}${i}`
    inFlight.push(
      recordOne(pool, i, `img_${key}`, receiver.url(`/lat/${key}`)).then((at) => {
        committed.set(key, at)
      }),
    )
  }
  await Promise.all(inFlight)
  const elapsed = performance.now() - start
  const arrivals = await collectArrivals(receiver, committed.size)
  const latencies = [...committed].map(([key, at]) => (arrivals.get(key) ?? Number.POSITIVE_INFINITY) - at)
  latencies.sort((a, b) => a - b)
  return {
    sent: count,
    arrived: latencies.filter(Number.isFinite).length,
    rate: (count / elapsed) * 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
  }
}
