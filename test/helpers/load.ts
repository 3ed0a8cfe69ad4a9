import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { expect, vi } from 'vitest'
import { generateSecret } from '../../src/delivery/sign.ts'
import type { TestDb } from './database.ts'
import type { Receiver } from './receiver.ts'

// Loads for the fairness tests: backlogs for one destination, a steady trickle for another, and
// how late each of the trickle's webhooks arrived.

/** An endpoint of `org` at `url`, every event type; returns its id. */
export async function endpointAt(
  testDb: TestDb,
  org: string,
  url: string,
  limits: { maxInFlight?: number; rateLimit?: number } = {},
): Promise<string> {
  const { rows } = await sql<{ id: string }>`select webhooks.create_endpoint(org_id => ${org}, url => ${url},
      secret => ${generateSecret()}, max_in_flight => ${limits.maxInFlight ?? null}::integer,
      rate_limit => ${limits.rateLimit ?? null}::float8) as id`.execute(testDb.db)
  const id = rows[0]?.id
  if (id === undefined) {
    throw new Error('no endpoint made')
  }
  return id
}

/** `count` completed renders of `org`, recorded in one transaction (no webhook_url). */
export async function backlog(testDb: TestDb, org: string, count: number): Promise<void> {
  await sql`select count(webhooks.record_render_status(org_id => ${org}, render_id => 'img_' || g,
      kind => 'image', status => 'completed'))
    from generate_series(1, ${count}::int) g`.execute(testDb.db)
}

/** Waits until every recorded event has been fanned out into deliveries. */
export async function fannedOut(testDb: TestDb): Promise<void> {
  await vi.waitFor(
    async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from webhooks.events where fanned_out_at is null`.execute(testDb.db)
      expect(rows[0]?.n).toBe(0)
    },
    { timeout: 30_000, interval: 50 },
  )
}

/**
 * Records `count` completed renders of `org` with their webhook_url at `receiver`'s `path`, one
 * transaction each, `everyMs` apart (open loop: each on its own schedule); waits for all of them
 * to arrive and returns, for each, the milliseconds from its commit to its first arrival.
 */
export async function trickleLatencies(
  testDb: TestDb,
  receiver: Receiver,
  org: string,
  path: string,
  options: { count: number; everyMs: number },
): Promise<number[]> {
  const committedAt = new Map<string, number>()
  const start = Date.now()
  const recordings: Array<Promise<void>> = []
  for (let i = 0; i < options.count; i++) {
    const wait = start + i * options.everyMs - Date.now()
    if (wait > 0) {
      await sleep(wait)
    }
    const renderId = `img_${org}_${i}`
    recordings.push(
      sql`select webhooks.record_render_status(org_id => ${org}, render_id => ${renderId}, kind => 'image',
          status => 'completed', webhook_url => ${receiver.url(path)})`
        .execute(testDb.db)
        .then(() => {
          committedAt.set(renderId, Date.now())
        }),
    )
  }
  await Promise.all(recordings)
  const firstArrival = () => {
    const first = new Map<string, number>()
    for (const request of receiver.requests) {
      if (request.path === path) {
        const id = (JSON.parse(request.body) as { data: { id: string } }).data.id
        first.set(id, Math.min(first.get(id) ?? Number.POSITIVE_INFINITY, request.at))
      }
    }
    return first
  }
  await vi.waitFor(() => expect(firstArrival().size).toBe(options.count), { timeout: 60_000, interval: 50 })
  const arrived = firstArrival()
  return [...committedAt].map(([id, at]) => (arrived.get(id) ?? Number.POSITIVE_INFINITY) - at)
}

/** The p-th percentile (0..1) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN
}
