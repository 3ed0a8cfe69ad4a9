import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { attemptDelivery } from '../../src/delivery/attempt.ts'
import { createHttpClient } from '../../src/delivery/http.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import { claimDeliveries } from '../../src/store/claim.ts'
import { fanOutEvents } from '../../src/store/events.ts'
import { recordOutcomes } from '../../src/store/outcomes.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

const HOUR = 3_600_000
const STEP = 60_000

let testDb: TestDb
let receiver: Receiver
beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  receiver.on('/down', () => ({ status: 503 }))
  await giveOrgASecret(testDb)
})
afterAll(async () => {
  await receiver?.close()
  await testDb?.drop()
})

describe('a worker whose clock is wrong', () => {
  it.each([
    ['an hour slow', -HOUR],
    ['an hour fast', HOUR],
  ])('%s still schedules the retry one step after the failure, by the database clock', async (_, skew) => {
    // Regression: next_attempt_at was the worker's clock plus the step, and the claim compares it
    // with the database's now(): a slow worker clock retried at once, a fast one an hour late.
    const eventId = await recordCompleted(testDb, receiver.url('/down'))
    await fanOutEvents(testDb.db, 10)
    const [claimed] = await claimDeliveries(testDb.db, {
      limit: 1,
      leaseMs: 10_000,
      defaultCap: 10,
      poolId: 'pool_test',
    })
    if (claimed?.event_id !== eventId) {
      throw new Error(`the delivery of ${eventId} was not claimed`)
    }
    const http = createHttpClient({ timeoutMs: 2_000 })
    const record = await attemptDelivery(claimed, {
      http,
      box: createSecretBox(),
      schedule: [STEP],
      now: () => new Date(Date.now() + skew),
    })
    await http.close()
    expect(record.statusCode).toBe(503)
    await recordOutcomes(testDb.db, [record], { defaultCap: 10, probePausesMs: [1_000] })
    const { rows } = await sql<{ due_in_ms: number; retry_in_ms: number }>`
      select extract(epoch from d.next_attempt_at - now()) * 1000 as due_in_ms,
        extract(epoch from a.retry_at - now()) * 1000 as retry_in_ms
      from webhooks.delivery_state d join webhooks.attempts a on a.delivery_id = d.delivery_id
      where d.delivery_id = ${claimed.id} and d.status = 'pending'`.execute(testDb.db)
    expect(rows).toHaveLength(1)
    for (const value of [rows[0]?.due_in_ms, rows[0]?.retry_in_ms]) {
      expect(Number(value)).toBeGreaterThan(STEP - 5_000)
      expect(Number(value)).toBeLessThanOrEqual(STEP)
    }
  })
})
