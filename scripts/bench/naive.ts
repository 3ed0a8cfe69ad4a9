// The naive dispatcher the throughput target is measured against, run as its own process, on a
// lean schema of its own (scripts/bench/naive-schema.ts): what a competent engineer writes for
// the job. It claims due deliveries in batches with FOR UPDATE SKIP LOCKED (as many as it has
// free slots), keeps NAIVE_IN_FLIGHT requests in flight, signs and sends them with the project's
// own attempt code, and writes each outcome with one statement (the attempt row and the
// delivery's new state). It runs until stopped.
import { setTimeout as delay } from 'node:timers/promises'
import type { AttemptDeps } from '../../src/delivery/attempt.ts'
import { attemptDelivery } from '../../src/delivery/attempt.ts'
import { createHttpClient } from '../../src/delivery/http.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import type { ClaimedDelivery } from '../../src/store/claim.ts'
import { createPool } from '../../src/store/database.ts'
import type { AttemptRecord } from '../../src/store/outcomes.ts'

const IN_FLIGHT = Number(process.env['NAIVE_IN_FLIGHT'] ?? 64)
const pool = createPool(process.env['DATABASE_URL'] ?? '', Math.min(IN_FLIGHT + 2, 20))
const http = createHttpClient({ timeoutMs: 10_000 })
const deps: AttemptDeps = {
  http,
  box: createSecretBox(process.env['WEBHOOK_SECRETS_KEY']),
  schedule: [60_000, 300_000, 1_800_000, 7_200_000, 43_200_000],
}

/** Leases up to `limit` due deliveries, with what signing and the body need. */
async function claim(limit: number): Promise<ClaimedDelivery[]> {
  const { rows } = await pool.query<ClaimedDelivery>(
    `with due as (
       select id from naive.deliveries
       where status = 'pending' and next_attempt_at <= now()
       order by next_attempt_at limit $1 for update skip locked
     ), claimed as (
       update naive.deliveries d
       set status = 'in_flight', attempts = d.attempts + 1, lease_until = now() + interval '40 seconds'
       from due where d.id = due.id
       returning d.*
     )
     select c.id, c.event_id, 'bench' as org_id, 'render_url' as destination, 0 as destination_id,
       null as endpoint_id, c.url, c.attempts, c.failures, 0 as replays, e.type, e.created_at, e.data,
       true as active, c.secret, null as previous_secret
     from claimed c join naive.events e on e.id = c.event_id`,
    [limit],
  )
  return rows
}

/** One statement: the attempt row and the delivery's new state. */
async function bookkeep(r: AttemptRecord): Promise<void> {
  await pool.query(
    `with attempt as (
       insert into naive.attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, error)
       values ($1, $2, $3, $4, $5, $6)
     )
     update naive.deliveries
     set status = $7, lease_until = null, next_attempt_at = now() + $8::int8 * interval '1 millisecond',
       failures = failures + $9, last_status_code = $5, last_error = $6
     where id = $1`,
    [
      r.deliveryId,
      r.attemptNo,
      r.startedAt,
      r.durationMs,
      r.statusCode,
      r.errorCode,
      r.status,
      r.retryInMs,
      r.outcome === 'delivered' ? 0 : 1,
    ],
  )
}

async function deliver(claimed: ClaimedDelivery): Promise<void> {
  await bookkeep(await attemptDelivery(claimed, deps))
}

const inFlight = new Set<Promise<void>>()
let stopping = false
process.on('SIGTERM', () => {
  stopping = true
})
process.on('disconnect', () => {
  stopping = true
})

await pool.query('select 1')
process.send?.({ ready: true })
while (!stopping) {
  const room = IN_FLIGHT - inFlight.size
  const claimed = room > 0 ? await claim(room) : []
  for (const delivery of claimed) {
    const task: Promise<void> = deliver(delivery)
      .catch((error: unknown) => {
        console.error('naive dispatcher failed:', error)
        process.exit(1)
      })
      .finally(() => inFlight.delete(task))
    inFlight.add(task)
  }
  if (inFlight.size >= IN_FLIGHT) {
    await Promise.race(inFlight)
  } else if (claimed.length === 0) {
    await (inFlight.size > 0 ? Promise.race([...inFlight, delay(50)]) : delay(50))
  }
}
await Promise.allSettled(inFlight)
await http.close()
await pool.end()
// The IPC channel would keep this process alive.
process.disconnect?.()
