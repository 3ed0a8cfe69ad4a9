import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { CliResult } from '../helpers/cli.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

const stack = useDeliveryStack({ WEBHOOK_REQUEST_TIMEOUT: '3s' }, async (testDb) => {
  await testDb.db
    .insertInto('webhooks.org_secrets')
    .values({ org_id: 'org_d', secret: 'whsec_test' })
    .execute()
})

/** An answer that postpones the retry by an hour, leaving the delivery pending meanwhile. */
const LATER = { status: 503, headers: { 'retry-after': '3600' } }

/** A delivery whose first attempt failed and whose retry is an hour away. */
const WAITING = { status: 'pending', failures: 1 }

const arrivals = stack.arrivals

async function createEndpoint(path: string) {
  const argv = ['endpoints', 'create', '--org', 'org_d', '--url', stack.receiver.url(path)]
  return (await runCliJson<{ id: string }>(stack.testDb, argv)).id
}

let seq = 0
async function record(webhookUrl: string | null = null): Promise<string> {
  const eventId = await stack.testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId: 'org_d',
      renderId: `img_d${++seq}`,
      kind: 'image',
      status: 'completed',
      webhookUrl,
    }),
  )
  return eventId as string
}

/** The delivery of `eventId` to `endpointId` as it stands now (webhooks.delivery_state). */
async function deliveryTo(eventId: string, endpointId: string) {
  return stack.testDb.db
    .selectFrom('webhooks.delivery_state')
    .selectAll()
    .select('delivery_id as id')
    .where('event_id', '=', eventId)
    .where('endpoint_id', '=', endpointId)
    .executeTakeFirstOrThrow()
}

async function attemptsOf(deliveryId: string) {
  const { rows } = await sql<{ status_code: number | null; error_code: string | null; outcome: string }>`
    select status_code, error_code, outcome from webhooks.attempts
    where delivery_id = ${deliveryId} order by attempt_no`.execute(stack.testDb.db)
  return rows
}

describe('disabling an endpoint', () => {
  it('drops its pending retry, which is never sent', async () => {
    stack.receiver.on('/pending', (n) => (n === 1 ? LATER : { status: 200 }))
    const ep = await createEndpoint('/pending')
    const eventId = await record()
    await vi.waitFor(async () => expect(await deliveryTo(eventId, ep)).toMatchObject(WAITING), {
      timeout: 10_000,
    })

    const disabled = await runCliJson(stack.testDb, [
      'endpoints',
      'disable',
      ep,
      '--reason',
      'paused by customer',
    ])
    expect(disabled).toEqual({ id: ep, enabled: false, dropped: 1 })
    const dropped = await deliveryTo(eventId, ep)
    expect(dropped).toMatchObject({
      status: 'dropped',
      last_error: 'endpoint_disabled: paused by customer',
      next_attempt_at: null,
    })

    // Even once its retry would have been due, and with the endpoint enabled again, the dropped
    // delivery stays dropped: a marker sent to the same endpoint arrives, it does not.
    expect((await runCli(stack.testDb, ['endpoints', 'enable', ep])).code).toBe(0)
    const marker = await record()
    await vi.waitFor(() => expect(arrivals('/pending')).toHaveLength(2), { timeout: 10_000 })
    expect(arrivals('/pending')[1]?.headers['x-imtegrate-delivery-id']).toBe(
      (await deliveryTo(marker, ep)).id,
    )
    expect(
      arrivals('/pending').filter((r) => r.headers['x-imtegrate-delivery-id'] === dropped.id),
    ).toHaveLength(1)
    expect(await deliveryTo(eventId, ep)).toMatchObject({ status: 'dropped', attempts: 1 })
    expect(await attemptsOf(dropped.id)).toEqual([
      { status_code: 503, error_code: 'http_503', outcome: 'retrying' },
    ])
  })

  it('while an attempt is in flight drops the delivery when that attempt ends, scheduling no retry', async () => {
    const ep = await createEndpoint('/in-flight')
    let disabling: Promise<CliResult> | undefined
    stack.receiver.on('/in-flight', () => {
      disabling ??= runCli(stack.testDb, ['endpoints', 'disable', ep])
      return 'hang'
    })
    const eventId = await record()
    await vi.waitFor(async () => expect((await deliveryTo(eventId, ep)).status).toBe('dropped'), {
      timeout: 10_000,
    })
    expect((await disabling)?.code).toBe(0)
    const delivery = await deliveryTo(eventId, ep)
    expect(delivery.last_error).toMatch(/^endpoint_disabled: /)
    expect(arrivals('/in-flight')).toHaveLength(1)
    expect(delivery.last_error).toBe('endpoint_disabled: disabled by an operator')
    // The attempt that was in flight is the last one, and no retry was ever scheduled.
    expect(await attemptsOf(delivery.id)).toEqual([
      { status_code: null, error_code: 'timeout', outcome: 'dropped' },
    ])
  })
})

describe('a 410 Gone answer from an endpoint', () => {
  it('is a failure like any other: retried on schedule, and the endpoint stays enabled', async () => {
    // Regression: a single 410 (a proxy during a deploy, say) dropped the delivery at once,
    // disabled the endpoint and dropped its other pending retries; the contract makes every
    // non-2xx answer a failure that is retried.
    stack.receiver.on('/gone', (n) =>
      n === 1 ? LATER : n === 2 ? { status: 410, body: 'no such hook' } : { status: 200 },
    )
    const ep = await createEndpoint('/gone')
    const first = await record()
    await vi.waitFor(async () => expect(await deliveryTo(first, ep)).toMatchObject(WAITING), {
      timeout: 10_000,
    })
    const second = await record()
    await vi.waitFor(async () => expect((await deliveryTo(second, ep)).status).toBe('delivered'), {
      timeout: 10_000,
    })
    expect(await attemptsOf((await deliveryTo(second, ep)).id)).toEqual([
      { status_code: 410, error_code: 'http_410', outcome: 'retrying' },
      { status_code: 200, error_code: null, outcome: 'delivered' },
    ])
    const endpoint = await stack.testDb.db
      .selectFrom('webhooks.endpoints')
      .selectAll()
      .where('id', '=', ep)
      .executeTakeFirstOrThrow()
    expect(endpoint).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null })
    // The first delivery's retry is still waiting, and later events still go to the endpoint.
    expect(await deliveryTo(first, ep)).toMatchObject(WAITING)
    const later = await record()
    await vi.waitFor(async () => expect((await deliveryTo(later, ep)).status).toBe('delivered'), {
      timeout: 10_000,
    })
  })
})
