import { setTimeout as delay } from 'node:timers/promises'
import type pg from 'pg'
import type { Child } from './children.ts'
import { ORG, recordEvents, remainingWork, until } from './database.ts'
import { BackendCpu, ProcessCpu, rssBytes } from './proc.ts'
import type { DrainContext } from './throughput.ts'

/**
 * A receiver that was down all day: `count` deliveries that already failed four times and
 * wait for retries between 1 and 12 hours from now, with their events. Written directly with
 * SQL (100,000 a statement).
 */
export async function queueFutureRetries(pool: pg.Pool, count: number, webhookUrl: string): Promise<void> {
  const CHUNK = 100_000
  const { rows } = await pool.query<{ id: number }>(
    `insert into webhooks.destinations (key, org_id, origin)
     values (webhooks.destination_key($1, null, $2), $1, webhooks.url_origin($2))
     on conflict (key) do update set key = excluded.key
     returning id`,
    [ORG, webhookUrl],
  )
  const destination = rows[0]?.id
  for (let first = 1; first <= count; first += CHUNK) {
    const last = Math.min(count, first + CHUNK - 1)
    await pool.query(
      `with e as (
         insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at, fanned_out_at)
         select webhooks.new_id('evt'), $1, 'image.completed', 'img_down_' || g, $2,
           json_build_object('id', 'img_down_' || g, 'status', 'completed',
             'result_url', 'https://storage.imtegrate.com/renders/img_down_' || g || '.png',
             'template_id', 'tpl_bench', 'duration_ms', 3210),
           date_trunc('second', now() - interval '1 day'), now() - interval '1 day'
         from generate_series($3::int, $4::int) g
         returning id, webhook_url)
       , d as (
         insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, attempts, failures,
           last_error, created_at)
         select webhooks.new_id('dlv'), e.id, $1, 'render_url', e.webhook_url, 'pending', 4, 4,
           'connection_refused: connect ECONNREFUSED', now() - interval '1 day'
         from e
         returning id)
       insert into webhooks.delivery_queue (delivery_id, destination_id, due_at, attempts, failures, last_error)
       select d.id, $5, now() + interval '1 hour' + random() * interval '11 hours', 4, 4,
         'connection_refused: connect ECONNREFUSED'
       from d`,
      [ORG, webhookUrl, first, last, destination],
    )
  }
  await pool.query(
    'update webhooks.destinations set ready_at = (select min(due_at) from webhooks.delivery_queue where destination_id = $1) where id = $1',
    [destination],
  )
}

export type RssDrainResult = {
  events: number
  ms: number
  perSecond: number
  rss: { start: number; middle: number; end: number; max: number }
  nodeUsPerDelivery: number
  pgUsPerDelivery: number
}

type DrainOptions = {
  events: number
  chunk: number
  maxBacklog: number
  webhookUrl: string
  timeoutMs: number
  /** performance.now() after which no more events are recorded (the run's time budget). */
  recordUntil: number
}

/** The worker's RSS every 500 ms: its maximum, and the first sample once half had arrived. */
class RssSampler {
  readonly start: number
  max: number
  middle = 0
  delivered = 0
  readonly #timer: NodeJS.Timeout

  constructor(pid: number, half: number) {
    this.start = rssBytes(pid) ?? 0
    this.max = this.start
    this.#timer = setInterval(() => {
      const rss = rssBytes(pid) ?? 0
      this.max = Math.max(this.max, rss)
      if (this.middle === 0 && this.delivered >= half) {
        this.middle = rss
      }
    }, 500)
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}

/**
 * Records the events chunk by chunk, never more than `maxBacklog` ahead of the worker, until
 * all are recorded or `recordUntil` has passed. Returns how many it recorded.
 */
async function produce(ctx: DrainContext, options: DrainOptions, progress: () => Promise<void>) {
  let recorded = 0
  while (recorded < options.events) {
    while ((await remainingWork(ctx.pool)) > options.maxBacklog) {
      await progress()
      await delay(100)
    }
    if (recorded > 0 && performance.now() >= options.recordUntil) {
      break
    }
    const count = Math.min(options.chunk, options.events - recorded)
    await recordEvents(
      ctx.pool,
      { org: ORG, prefix: 'img_drain_', count, webhookUrl: options.webhookUrl },
      recorded,
    )
    recorded += count
    await progress()
  }
  return recorded
}

/**
 * Records up to `events` renders in chunks while the running worker drains them, sampling the
 * worker's RSS: before the load, when half had arrived, and at the end.
 */
export async function drainWithRss(
  ctx: DrainContext,
  worker: Child,
  options: DrainOptions,
): Promise<RssDrainResult> {
  const before = await ctx.receiver.count()
  const rss = new RssSampler(worker.pid, options.events / 2)
  const progress = async () => {
    rss.delivered = (await ctx.receiver.count()) - before
  }
  const node = new ProcessCpu(worker.pid)
  const backends = new BackendCpu(ctx.admin, ctx.dbName)
  await backends.start()
  const began = performance.now()
  let events = 0
  try {
    events = await produce(ctx, options, progress)
    const arrived = async () => {
      await progress()
      return rss.delivered >= events
    }
    await until(`${events} deliveries at the receiver`, arrived, options.timeoutMs, 50)
    await until('every outcome to be written', async () => (await remainingWork(ctx.pool)) === 0, 60_000)
  } finally {
    rss.stop()
  }
  const ms = performance.now() - began
  const end = rssBytes(worker.pid) ?? 0
  return {
    events,
    ms,
    perSecond: (events / ms) * 1000,
    rss: { start: rss.start, middle: rss.middle || end, end, max: Math.max(rss.max, end) },
    nodeUsPerDelivery: node.read() / events,
    pgUsPerDelivery: (await backends.stop()) / events,
  }
}
