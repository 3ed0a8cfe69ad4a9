// The naive dispatcher the throughput target is measured against, run as its own process:
// what a competent engineer writes in an afternoon. It polls for due deliveries with FOR
// UPDATE SKIP LOCKED (as many as it has free slots), keeps 32 requests in flight, signs and
// sends them with the project's own attempt code, and writes each outcome in its own
// transaction: insert the attempt row, update the delivery, commit. It runs until stopped.
import { setTimeout as delay } from 'node:timers/promises'
import type { AttemptDeps } from '../../src/delivery/attempt.ts'
import { attemptDelivery } from '../../src/delivery/attempt.ts'
import { createHttpClient } from '../../src/delivery/http.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import { createPool } from '../../src/store/database.ts'
import type { AttemptRecord, ClaimedDelivery } from '../../src/store/deliveries.ts'

const IN_FLIGHT = Number(process.env['NAIVE_IN_FLIGHT'] ?? 32)
const pool = createPool(process.env['DATABASE_URL'] ?? '', IN_FLIGHT + 2)
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
       select id from webhooks.deliveries
       where status = 'pending' and next_attempt_at <= now()
       order by next_attempt_at limit $1 for update skip locked
     ), claimed as (
       update webhooks.deliveries d
       set status = 'in_flight', attempts = d.attempts + 1, lease_until = now() + interval '40 seconds',
         updated_at = now()
       from due where d.id = due.id
       returning d.*
     )
     select c.id, c.event_id, c.org_id, c.destination, c.endpoint_id, c.url, c.attempts, c.failures,
       c.replays, e.type, e.created_at, e.data, true as active,
       coalesce(ep.secret, os.secret) as secret, null as previous_secret
     from claimed c
     join webhooks.events e on e.id = c.event_id
     left join webhooks.endpoints ep on ep.id = c.endpoint_id
     left join webhooks.org_secrets os on os.org_id = c.org_id`,
    [limit],
  )
  return rows
}

/** The attempt row's values, in the order of the INSERT below. */
function attemptRow(r: AttemptRecord): unknown[] {
  return [
    r.deliveryId,
    r.attemptNo,
    r.replayNo,
    r.orgId,
    r.endpointId,
    r.startedAt,
    r.durationMs,
    r.statusCode,
    r.errorCode,
    r.errorMessage,
    r.responseExcerpt,
    r.outcome,
    r.retryInMs,
  ]
}

async function bookkeep(record: AttemptRecord): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('begin')
    await client.query(
      `insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
         duration_ms, status_code, error_code, error_message, response_excerpt, outcome, retry_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + $13::int8 * interval '1 millisecond')`,
      attemptRow(record),
    )
    await client.query(
      `update webhooks.deliveries set status = $2, next_attempt_at = now() + $3::int8 * interval '1 millisecond',
         lease_until = null,
         failures = failures + $4, last_status_code = $5, last_error = $6, updated_at = now(),
         delivered_at = case when $2 = 'delivered' then now() end,
         dropped_at = case when $2 = 'dropped' then now() end
       where id = $1`,
      [
        record.deliveryId,
        record.status,
        record.retryInMs,
        record.outcome === 'delivered' ? 0 : 1,
        record.statusCode,
        record.errorCode,
      ],
    )
    await client.query('commit')
  } catch (error) {
    await client.query('rollback').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
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
