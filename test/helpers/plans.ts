import type pg from 'pg'

/**
 * Runs `work` on a connection of its own with auto_explain reporting the plan of every statement,
 * those inside functions included, back to it; returns what `work` returned and the plans. With
 * `analyze`, plans carry the rows each node returned (no timings). The connection is closed
 * after, so each call's plans are made afresh.
 */
export async function explained<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { analyze?: boolean } = {},
): Promise<{ result: T; plans: string[] }> {
  const client = await pool.connect()
  const plans: string[] = []
  client.on('notice', (notice) => plans.push(notice.message ?? ''))
  try {
    await client.query(`load 'auto_explain'`)
    await client.query('set auto_explain.log_min_duration = 0')
    if (options.analyze === true) {
      await client.query('set auto_explain.log_analyze = on')
      await client.query('set auto_explain.log_timing = off')
    }
    await client.query('set auto_explain.log_nested_statements = on')
    await client.query('set client_min_messages = log')
    return { result: await work(client), plans }
  } finally {
    await client.query('reset client_min_messages')
    client.release(true)
  }
}

/**
 * The most rows one join in `plans` (analyzed) discarded: a join of two lists by nested loop
 * discards nearly every pair of them.
 */
export function pairsDiscarded(plans: string | readonly string[]): number {
  const text = typeof plans === 'string' ? plans : plans.join('\n')
  const removed = [...text.matchAll(/Rows Removed by Join Filter: (\d+)/g)]
  return Math.max(0, ...removed.map((m) => Number(m[1])))
}
