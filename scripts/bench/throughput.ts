import { setTimeout as delay } from 'node:timers/promises'
import type pg from 'pg'
import type { Child, ReceiverHandle } from './children.ts'
import { remainingWork, until } from './database.ts'
import { BackendCpu, ProcessCpu, rssBytes } from './proc.ts'

export type DrainResult = {
  deliveries: number
  ms: number
  perSecond: number
  /** CPU of the dispatcher's node process per delivery, µs. */
  nodeUsPerDelivery: number
  /** CPU of the PostgreSQL backends of the bench database per delivery, µs. */
  pgUsPerDelivery: number
  rssBytes: number
  /** Committed transactions of the bench database per delivery (an estimate: see measureDrain). */
  xactsPerDelivery: number
}

export type DrainContext = { pool: pg.Pool; admin: pg.Client; dbName: string; receiver: ReceiverHandle }

/** Waits for the receiver to reach `count`, then for every outcome; returns the database polls made. */
async function untilDone(ctx: DrainContext, count: number, timeoutMs: number): Promise<number> {
  let polls = 0
  await until(
    `${count} requests at the receiver`,
    async () => (await ctx.receiver.count()) >= count,
    timeoutMs,
  )
  const drained = async () => {
    polls++
    return (await remainingWork(ctx.pool)) === 0
  }
  await until('every outcome to be written', drained, timeoutMs)
  return polls
}

/** Transactions committed in the database so far, as the statistics collector last heard. */
async function commits(ctx: DrainContext): Promise<number> {
  const { rows } = await ctx.admin.query<{ n: string }>(
    'select xact_commit + xact_rollback as n from pg_stat_database where datname = $1',
    [ctx.dbName],
  )
  return Number(rows[0]?.n ?? 0)
}

/**
 * Starts a dispatcher process on a recorded backlog and times it from ready to done: the
 * receiver has answered `deliveries` more requests and no work is left in the database (every
 * outcome written). CPU is counted over the same interval; the dispatcher is stopped after.
 * Transactions are counted from before its start to after its exit (backends flush their
 * statistics when they end), less the bench's own polls: a close estimate, startup included.
 * With `stop` false the dispatcher is left running (and its transactions are counted up to
 * the end of the drain).
 */
export async function measureDrain(
  ctx: DrainContext,
  deliveries: number,
  start: () => Promise<Child>,
  timeoutMs: number,
  stop = true,
): Promise<DrainResult> {
  const before = await ctx.receiver.count()
  const backends = new BackendCpu(ctx.admin, ctx.dbName)
  const xactsBefore = await commits(ctx)
  let polls = 0
  const child = await start()
  let result: Omit<DrainResult, 'xactsPerDelivery'>
  try {
    const began = performance.now()
    const node = new ProcessCpu(child.pid)
    await backends.start()
    polls = await untilDone(ctx, before + deliveries, timeoutMs)
    const ms = performance.now() - began
    const nodeUs = node.read()
    const pgUs = await backends.stop()
    result = {
      deliveries,
      ms,
      perSecond: (deliveries / ms) * 1000,
      nodeUsPerDelivery: nodeUs / deliveries,
      pgUsPerDelivery: pgUs / deliveries,
      rssBytes: rssBytes(child.pid) ?? 0,
    }
  } finally {
    if (stop) {
      await child.stop()
    }
  }
  // The statistics of exited backends reach pg_stat_database within a moment.
  await delay(600)
  const xacts = (await commits(ctx)) - xactsBefore - polls
  return { ...result, xactsPerDelivery: xacts / deliveries }
}
