import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { NO_METRICS } from '../../src/metrics/worker-metrics.ts'
import type { ClaimedDelivery } from '../../src/store/claim.ts'
import { claimDeliveries, settleAndClaim } from '../../src/store/claim.ts'
import type { Db } from '../../src/store/database.ts'
import { disableOrgEndpoint } from '../../src/store/org-endpoints.ts'
import type { AttemptRecord } from '../../src/store/outcomes.ts'
import { recordOutcomes } from '../../src/store/outcomes.ts'
import { OutcomeWriter } from '../../src/worker/outcome-writer.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { outcomeOf } from '../helpers/outcomes.ts'
import { enqueue } from '../helpers/queue.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_rec')
})
afterAll(async () => {
  await testDb?.drop()
})

const POLICY = { defaultCap: 100, probePausesMs: [1_000] }

/** Leases up to 100 due deliveries, for `leaseMs`, to a worker pool that is not alive. */
const claim = (db: Db, leaseMs = 60_000) =>
  claimDeliveries(db, { limit: 100, leaseMs, defaultCap: 100, poolId: 'pool_gone' })

const recordAttempts = (db: Db, records: AttemptRecord[]) => recordOutcomes(db, records, POLICY)

/** Makes due deliveries to a fresh endpoint (its send window wide open) and claims exactly them. */
async function claimNew(endpointId: string, ids: string[], leaseMs = 60_000): Promise<ClaimedDelivery[]> {
  await sql`insert into webhooks.endpoints (id, org_id, url, secret)
    values (${endpointId}, 'org_1', 'http://127.0.0.1:9/', 'whsec_x') on conflict do nothing`.execute(
    testDb.db,
  )
  await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
    select id, 'evt_rec', 'org_1', id, ${endpointId}, 'http://127.0.0.1:9/'
    from unnest(${ids}::text[]) id`.execute(testDb.db)
  await enqueue(testDb.db, ids, { dueAt: new Date(Date.now() - 1_000) })
  await sql`update webhooks.destinations set send_window = 100 where endpoint_id = ${endpointId}`.execute(
    testDb.db,
  )
  const claimed = await claim(testDb.db, leaseMs)
  expect(claimed.map((d) => d.id).sort()).toEqual([...ids].sort())
  return claimed
}

/** The claimed delivery `id`; a test whose setup did not claim it fails here. */
function pick(claimed: readonly ClaimedDelivery[], id: string): ClaimedDelivery {
  const found = claimed.find((d) => d.id === id)
  if (found === undefined) {
    throw new Error(`${id} was not claimed`)
  }
  return found
}

async function attemptRows(deliveryId: string) {
  const { rows } = await sql<{
    attempt_no: number
    outcome: string
    status_code: number | null
    retry_at: Date | null
  }>`
    select attempt_no, outcome, status_code, retry_at from webhooks.attempts
    where delivery_id = ${deliveryId} order by attempt_no`.execute(testDb.db)
  return rows
}

async function statusOf(deliveryId: string) {
  return testDb.db
    .selectFrom('webhooks.delivery_state')
    .select(['status', 'attempts', 'last_error'])
    .where('delivery_id', '=', deliveryId)
    .executeTakeFirstOrThrow()
}

describe('recordOutcomes', () => {
  it('drops, and says it dropped, a retry whose endpoint was disabled during its attempt', async () => {
    const claimed = await claimNew('ep_off', ['dlv_off_ok', 'dlv_off_busy'])
    await disableOrgEndpoint(testDb.db, 'org_1', 'ep_off', 'paused by customer')
    const droppedNow = await recordAttempts(testDb.db, [
      outcomeOf(pick(claimed, 'dlv_off_ok'), 200),
      outcomeOf(pick(claimed, 'dlv_off_busy'), 503),
    ])
    expect([...droppedNow]).toEqual(['dlv_off_busy'])
    expect(await statusOf('dlv_off_ok')).toMatchObject({ status: 'delivered', last_error: null })
    expect(await statusOf('dlv_off_busy')).toMatchObject({
      status: 'dropped',
      last_error: 'endpoint_disabled: paused by customer',
    })
    expect(await attemptRows('dlv_off_busy')).toEqual([
      { attempt_no: 1, outcome: 'dropped', status_code: 503, retry_at: null },
    ])
  })

  it("writes a late result as the receiver answered it, leaving the new owner's delivery alone", async () => {
    const first = pick(await claimNew('ep_late', ['dlv_late'], 1), 'dlv_late')
    await sleep(20)
    expect(pick(await claim(testDb.db), 'dlv_late').attempts).toBe(2)
    await disableOrgEndpoint(testDb.db, 'org_1', 'ep_late', 'disabled by an operator')
    // Regression: the late retry was rewritten as dropped for the disabled endpoint, although
    // the delivery was another worker's attempt 2, still in flight.
    expect([...(await recordAttempts(testDb.db, [outcomeOf(first, 503)]))]).toEqual([])
    expect(await statusOf('dlv_late')).toMatchObject({ status: 'in_flight', attempts: 2 })
    expect(await attemptRows('dlv_late')).toEqual([
      { attempt_no: 1, outcome: 'retrying', status_code: 503, retry_at: null },
    ])
  })

  it('keeps a late result that races the claim taking its delivery over', async () => {
    const first = pick(await claimNew('ep_race', ['dlv_race'], 1), 'dlv_race')
    await sleep(20)
    let late: Promise<Set<string>> | undefined
    await testDb.db.transaction().execute(async (trx) => {
      const taken = await claim(trx)
      expect(taken.map((d) => d.id)).toEqual(['dlv_race'])
      // Its snapshot predates the takeover's commit and its lost placeholder.
      late = recordAttempts(testDb.db, [outcomeOf(first, 200)])
      await sleep(200)
    })
    await late
    // Regression: the placeholder stayed lost, and what the receiver answered was never written.
    expect(await attemptRows('dlv_race')).toEqual([
      { attempt_no: 1, outcome: 'delivered', status_code: 200, retry_at: null },
    ])
    expect(await statusOf('dlv_race')).toMatchObject({ status: 'in_flight', attempts: 2 })
  })

  it('does not write a late result for a delivery a prune is deleting at that moment', async () => {
    const first = pick(await claimNew('ep_pruning', ['dlv_pruning'], 1), 'dlv_pruning')
    await sleep(20)
    const takeover = pick(await claim(testDb.db), 'dlv_pruning')
    await recordAttempts(testDb.db, [outcomeOf(takeover, 200)])
    let late: Promise<Set<string>> | undefined
    await testDb.db.transaction().execute(async (trx) => {
      await sql`delete from webhooks.attempts where delivery_id = 'dlv_pruning'`.execute(trx)
      await sql`delete from webhooks.deliveries where id = 'dlv_pruning'`.execute(trx)
      late = recordAttempts(testDb.db, [outcomeOf(first, 503)])
      await sleep(200)
    })
    await late
    // Regression: it waited for the deleted placeholder, then inserted an orphan attempt row.
    expect(await attemptRows('dlv_pruning')).toEqual([])
  })

  it("writes two batches that are each late for the other's deliveries at once, without deadlock", async () => {
    // Regression: the late results' existence check waited for the other batch's update of the
    // same delivery (FOR SHARE); about one round in ten deadlocked.
    for (let round = 0; round < 40; round++) {
      const x = `dlv_cross_${round}_x`
      const y = `dlv_cross_${round}_y`
      const first = await claimNew(`ep_cross_${round}`, [x, y], 1)
      await sleep(5)
      const second = await claim(testDb.db)
      // One worker owns X now and is late for Y; the other owns Y and is late for X.
      const outcomes = await Promise.allSettled([
        recordAttempts(testDb.db, [outcomeOf(pick(second, x), 200), outcomeOf(pick(first, y), 200)]),
        recordAttempts(testDb.db, [outcomeOf(pick(second, y), 200), outcomeOf(pick(first, x), 200)]),
      ])
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled'])
      expect(await attemptRows(x)).toEqual([
        { attempt_no: 1, outcome: 'delivered', status_code: 200, retry_at: null },
        { attempt_no: 2, outcome: 'delivered', status_code: 200, retry_at: null },
      ])
    }
  })

  it('does not write a late result for a delivery whose history was pruned meanwhile', async () => {
    const first = pick(await claimNew('ep_pruned', ['dlv_pruned'], 1), 'dlv_pruned')
    await sleep(20)
    const takeover = pick(await claim(testDb.db), 'dlv_pruned')
    await recordAttempts(testDb.db, [outcomeOf(takeover, 200)])
    await sql`delete from webhooks.attempts where delivery_id = 'dlv_pruned'`.execute(testDb.db)
    await sql`delete from webhooks.deliveries where id = 'dlv_pruned'`.execute(testDb.db)
    // Regression: it was inserted as an attempt row of a delivery that no longer exists.
    await recordAttempts(testDb.db, [outcomeOf(first, 503)])
    expect(await attemptRows('dlv_pruned')).toEqual([])
  })
})

describe('settleAndClaim', () => {
  /** Two deliveries due to an endpoint that allows one request in flight; the first is claimed. */
  async function oneOfTwoClaimed(endpointId: string): Promise<ClaimedDelivery> {
    await sql`insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight)
      values (${endpointId}, 'org_1', 'http://127.0.0.1:9/', 'whsec_x', 1)`.execute(testDb.db)
    const ids = [`${endpointId}_1`, `${endpointId}_2`]
    await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
      select id, 'evt_rec', 'org_1', id, ${endpointId}, 'http://127.0.0.1:9/'
      from unnest(${ids}::text[]) id`.execute(testDb.db)
    await enqueue(testDb.db, ids, { dueAt: new Date(Date.now() - 1_000) })
    const claimed = await claim(testDb.db)
    expect(claimed.map((d) => d.id)).toHaveLength(1)
    return pick(claimed, `${endpointId}_1`)
  }
  const request = { limit: 10, leaseMs: 60_000, defaultCap: 100, poolId: 'pool_gone' }

  it('writes the outcomes first, so the claim finds the leases they held released', async () => {
    const first = await oneOfTwoClaimed('ep_settle')
    // The endpoint allows one in flight: a claim made before the outcome is written takes nothing.
    expect(await claim(testDb.db)).toEqual([])
    const { claimed, dropped } = await settleAndClaim(testDb.db, [outcomeOf(first, 200)], POLICY, request)
    expect(claimed.map((d) => [d.id, d.attempts])).toEqual([['ep_settle_2', 1]])
    expect(claimed[0]).not.toHaveProperty('dropped')
    expect([...dropped]).toEqual([])
    expect(await statusOf('ep_settle_1')).toMatchObject({ status: 'delivered' })
    expect(await attemptRows('ep_settle_1')).toEqual([
      { attempt_no: 1, outcome: 'delivered', status_code: 200, retry_at: null },
    ])
    expect(await statusOf('ep_settle_2')).toMatchObject({ status: 'in_flight' })
  })

  it('with a limit of 0 (a stopping worker) writes the outcomes and claims nothing', async () => {
    const first = await oneOfTwoClaimed('ep_settle_stop')
    const { claimed } = await settleAndClaim(testDb.db, [outcomeOf(first, 200)], POLICY, {
      ...request,
      limit: 0,
    })
    expect(claimed).toEqual([])
    expect(await statusOf('ep_settle_stop_1')).toMatchObject({ status: 'delivered' })
    expect(await statusOf('ep_settle_stop_2')).toMatchObject({ status: 'pending' })
    // The next claim takes it (and leaves nothing due for the tests after this one).
    const next = await settleAndClaim(testDb.db, [], POLICY, request)
    expect(next.claimed.map((d) => d.id)).toEqual(['ep_settle_stop_2'])
  })

  it('says which deliveries the outcomes dropped, also when it claims nothing', async () => {
    const claimed = await claimNew('ep_settle_off', ['dlv_settle_off'])
    await disableOrgEndpoint(testDb.db, 'org_1', 'ep_settle_off', 'paused by customer')
    const settled = await settleAndClaim(
      testDb.db,
      [outcomeOf(pick(claimed, 'dlv_settle_off'), 503)],
      POLICY,
      request,
    )
    expect(settled.claimed).toEqual([])
    expect([...settled.dropped]).toEqual(['dlv_settle_off'])
    expect(await statusOf('dlv_settle_off')).toMatchObject({ status: 'dropped' })
  })

  it('writes nothing when the claim after the outcomes fails: one statement, one transaction', async () => {
    const first = await oneOfTwoClaimed('ep_settle_bad')
    // A negative limit fails inside claim_deliveries, after record_outcomes has run.
    await expect(
      settleAndClaim(testDb.db, [outcomeOf(first, 200)], POLICY, { ...request, limit: -1 }),
    ).rejects.toMatchObject({ code: '2201W' })
    expect(await statusOf('ep_settle_bad_1')).toMatchObject({ status: 'in_flight' })
    expect(await attemptRows('ep_settle_bad_1')).toEqual([])
    expect(await statusOf('ep_settle_bad_2')).toMatchObject({ status: 'pending' })
  })
})

function newWriter(): OutcomeWriter {
  return new OutcomeWriter({
    db: testDb.db,
    logger: createLogger('silent'),
    policy: POLICY,
    schedule: [60_000],
    metrics: NO_METRICS,
    onRetryDue: () => {},
    onRecovered: () => {},
  })
}

/**
 * A transaction holding the row of endpoint `endpointId`'s destination: writes for it wait until
 * `release()` (which may be called again, to no effect).
 */
async function lockDestination(endpointId: string) {
  const client = await testDb.pool.connect()
  await client.query('begin')
  await client.query('select 1 from webhooks.destinations where endpoint_id = $1 for update', [endpointId])
  let released = false
  return {
    release: async () => {
      if (released) {
        return
      }
      released = true
      await client.query('rollback')
      client.release()
    },
  }
}

describe('the outcome writer, held for the claim loop', () => {
  it('keeps outcomes for writeWith, which waits for the write under way and writes them in its own statement', async () => {
    const early = pick(await claimNew('ep_held_a', ['dlv_held_a']), 'dlv_held_a')
    const held = pick(await claimNew('ep_held_b', ['dlv_held_b']), 'dlv_held_b')
    const writer = newWriter()
    const lock = await lockDestination('ep_held_a')
    let handed: string[] | undefined
    try {
      writer.add({ claimed: early, record: outcomeOf(early, 200) })
      writer.hold()
      writer.add({ claimed: held, record: outcomeOf(held, 200) })
      const claimedWith = writer.writeWith(async (records) => {
        handed = records.map((r) => r.deliveryId)
        return { dropped: await recordAttempts(testDb.db, records), result: 'claimed' }
      })
      await sleep(300)
      // The first write waits for its lock; the held outcome waits for writeWith, which waits for that write.
      expect(handed).toBeUndefined()
      expect(await statusOf('dlv_held_b')).toMatchObject({ status: 'in_flight' })
      await lock.release()
      expect(await claimedWith).toBe('claimed')
    } finally {
      await lock.release()
    }
    expect(handed).toEqual(['dlv_held_b'])
    expect(await statusOf('dlv_held_a')).toMatchObject({ status: 'delivered' })
    expect(await statusOf('dlv_held_b')).toMatchObject({ status: 'delivered' })
    await writer.close(5_000)
  })

  it('writes the outcomes itself when the statement that was to carry them fails', async () => {
    const finished = pick(await claimNew('ep_held_c', ['dlv_held_c']), 'dlv_held_c')
    const writer = newWriter()
    writer.hold()
    writer.add({ claimed: finished, record: outcomeOf(finished, 200) })
    await expect(writer.writeWith(() => Promise.reject(new Error('the claim failed')))).rejects.toThrow(
      'the claim failed',
    )
    await writer.written()
    expect(await statusOf('dlv_held_c')).toMatchObject({ status: 'delivered' })
    await writer.close(5_000)
  })
})

describe('the outcome writer, asked whether what it was handed is written', () => {
  it('answers once the outcomes handed over before the question are in the database, not later ones', async () => {
    const first = pick(await claimNew('ep_written_a', ['dlv_written_a']), 'dlv_written_a')
    const later = pick(await claimNew('ep_written_b', ['dlv_written_b']), 'dlv_written_b')
    const writer = newWriter()
    // Each destination's row is locked by another transaction, so each write waits until we let it go.
    const lockA = await lockDestination('ep_written_a')
    const lockB = await lockDestination('ep_written_b')
    try {
      writer.add({ claimed: first, record: outcomeOf(first, 200) })
      let answered = false
      const written = writer.written().then(() => {
        answered = true
      })
      writer.add({ claimed: later, record: outcomeOf(later, 200) })
      await sleep(300)
      expect(answered).toBe(false)
      await lockA.release()
      await written
      expect(await statusOf('dlv_written_a')).toMatchObject({ status: 'delivered' })
      // The later outcome's write is still waiting for its lock: it was not waited for.
      expect(await statusOf('dlv_written_b')).toMatchObject({ status: 'in_flight' })
    } finally {
      await lockA.release()
      await lockB.release()
    }
    await writer.close(5_000)
    expect(await statusOf('dlv_written_b')).toMatchObject({ status: 'delivered' })
  })
})
