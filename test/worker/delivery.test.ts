import { createHmac, timingSafeEqual } from 'node:crypto'
import { sql } from 'kysely'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it, vi } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

// The seed documentation's verify function, as customers run it.
function verify(rawBody: string, signature: string, secret: string) {
  const mac = createHmac('sha256', secret).update(rawBody).digest('hex')
  return timingSafeEqual(Buffer.from(mac), Buffer.from(signature))
}

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`

const stack = useDeliveryStack({}, async (testDb) => {
  await testDb.db.insertInto('webhooks.org_secrets').values({ org_id: 'org_1', secret: SECRET }).execute()
})

let renderSeq = 0
async function record(path: string, overrides: Record<string, unknown> = {}) {
  const renderId = `img_${++renderSeq}`
  return stack.testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId: 'org_1',
      renderId,
      kind: 'image',
      status: 'completed',
      templateId: 'tpl_abc',
      resultUrl: 'https://storage.imtegrate.com/r.png',
      durationMs: 3210,
      webhookUrl: stack.receiver.url(path),
      ...overrides,
    }),
  )
}

const arrivals = stack.arrivals

async function attemptsOf(eventId: string) {
  const { rows } = await sql<{
    attempt_no: number
    status_code: number | null
    error_code: string | null
    outcome: string
  }>`
    select a.attempt_no, a.status_code, a.error_code, a.outcome from webhooks.attempts a
    join webhooks.deliveries d on d.id = a.delivery_id where d.event_id = ${eventId} order by a.attempt_no`.execute(
    stack.testDb.db,
  )
  return rows
}

async function deliveryOf(eventId: string) {
  return stack.testDb.db
    .selectFrom('webhooks.deliveries')
    .selectAll()
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow()
}

describe('a committed render status change', () => {
  it('arrives as one POST with the contract body, headers and verifiable signatures', async () => {
    const eventId = await record('/commit')
    expect(eventId).toMatch(/^evt_[0-9a-f]{32}$/)
    await vi.waitFor(() => expect(arrivals('/commit')).toHaveLength(1), { timeout: 5000 })
    const [request] = arrivals('/commit')
    if (!request) {
      throw new Error('no request')
    }
    const body = JSON.parse(request.body)
    expect(Object.keys(body)).toEqual(['type', 'created_at', 'data'])
    expect(body).toEqual({
      type: 'image.completed',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      data: {
        id: `img_${renderSeq}`,
        status: 'completed',
        result_url: 'https://storage.imtegrate.com/r.png',
        template_id: 'tpl_abc',
        duration_ms: 3210,
      },
    })
    const h = request.headers
    expect(h['content-type']).toBe('application/json')
    expect(h['user-agent']).toMatch(/^Imtegrate-Webhooks\/\d+\.\d+\.\d+$/)
    expect(h['x-imtegrate-delivery-id']).toMatch(/^dlv_[0-9a-f]{32}$/)
    expect(h['x-imtegrate-event-type']).toBe('image.completed')
    expect(h['x-imtegrate-attempt']).toBe('1')
    expect(h['webhook-id']).toBe(h['x-imtegrate-delivery-id'])
    expect(verify(request.body, String(h['x-imtegrate-signature']), SECRET)).toBe(true)
    expect(verify(request.body, String(h['x-imtegrate-signature']), `${SECRET}x`)).toBe(false)
    const payload = new Webhook(SECRET).verify(request.body, {
      'webhook-id': String(h['webhook-id']),
      'webhook-timestamp': String(h['webhook-timestamp']),
      'webhook-signature': String(h['webhook-signature']),
    })
    expect(payload).toEqual(body)
    await vi.waitFor(async () => expect((await deliveryOf(eventId as string)).status).toBe('delivered'))
    expect(await attemptsOf(eventId as string)).toEqual([
      { attempt_no: 1, status_code: 200, error_code: null, outcome: 'delivered' },
    ])
  })
})

describe('a rolled-back transaction', () => {
  it('leaves no event, no delivery and sends nothing', async () => {
    const rolledBack = await stack.testDb.db
      .transaction()
      .execute(async (trx) => {
        const id = await recordRenderStatus(trx, {
          orgId: 'org_1',
          renderId: 'img_rolled_back',
          kind: 'image',
          status: 'failed',
          webhookUrl: stack.receiver.url('/rollback'),
        })
        expect(id).toMatch(/^evt_/)
        throw new Error('the render service changed its mind')
      })
      .catch((error: Error) => error.message)
    expect(rolledBack).toBe('the render service changed its mind')
    // A later committed event to the same URL arrives; the rolled-back one never does.
    await record('/rollback', { renderId: 'img_after_rollback' })
    await vi.waitFor(() => expect(arrivals('/rollback').length).toBeGreaterThanOrEqual(1), { timeout: 5000 })
    const ids = arrivals('/rollback').map((r) => JSON.parse(r.body).data.id)
    expect(ids).toEqual(['img_after_rollback'])
    const events = await stack.testDb.db
      .selectFrom('webhooks.events')
      .select('subject_id')
      .where('subject_id', '=', 'img_rolled_back')
      .execute()
    expect(events).toEqual([])
    const jobs = await sql<{
      n: number
    }>`select count(*)::int as n from graphile_worker.jobs where task_identifier <> 'reconcile'`.execute(
      stack.testDb.db,
    )
    expect(jobs.rows[0]?.n).toBe(0)
  })
})

describe('a repeated terminal status', () => {
  it('makes one event and one request', async () => {
    const renderId = 'img_twice'
    const first = await record('/twice', { renderId })
    const second = await record('/twice', { renderId })
    const third = await record('/twice', { renderId, status: 'failed', resultUrl: null })
    expect(first).toMatch(/^evt_/)
    expect(second).toBeNull()
    expect(third).toBeNull()
    await vi.waitFor(async () => expect((await deliveryOf(first as string)).status).toBe('delivered'))
    await record('/twice', { renderId: 'img_twice_marker' })
    await vi.waitFor(() => expect(arrivals('/twice')).toHaveLength(2))
    expect(arrivals('/twice').map((r) => JSON.parse(r.body).data.id)).toEqual([
      'img_twice',
      'img_twice_marker',
    ])
  })

  it('makes no event for non-terminal statuses', async () => {
    expect(await record('/queued', { status: 'queued' })).toBeNull()
    expect(await record('/queued', { status: 'rendering' })).toBeNull()
  })
})

describe('a failing receiver', () => {
  it('gets one attempt plus one per schedule step, spaced by the schedule, then the delivery is dropped', async () => {
    stack.receiver.on('/always-500', () => ({ status: 500, body: 'boom' }))
    const eventId = (await record('/always-500')) as string
    await vi.waitFor(async () => expect((await deliveryOf(eventId)).status).toBe('dropped'), {
      timeout: 10_000,
    })
    const got = arrivals('/always-500')
    expect(got).toHaveLength(4)
    for (let i = 1; i < got.length; i++) {
      expect((got[i]?.at ?? 0) - (got[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(100)
    }
    expect(new Set(got.map((r) => r.headers['x-imtegrate-delivery-id'])).size).toBe(1)
    expect(got.map((r) => r.headers['x-imtegrate-attempt'])).toEqual(['1', '2', '3', '4'])
    expect(await attemptsOf(eventId)).toEqual([
      { attempt_no: 1, status_code: 500, error_code: 'http_500', outcome: 'retrying' },
      { attempt_no: 2, status_code: 500, error_code: 'http_500', outcome: 'retrying' },
      { attempt_no: 3, status_code: 500, error_code: 'http_500', outcome: 'retrying' },
      { attempt_no: 4, status_code: 500, error_code: 'http_500', outcome: 'dropped' },
    ])
    const delivery = await deliveryOf(eventId)
    expect(delivery.last_error).toBe('http_500: the receiver answered 500')
    expect(delivery.dropped_at).not.toBeNull()
  })

  it('that never answers times out on every attempt and is dropped the same way', async () => {
    stack.receiver.on('/hang', () => 'hang')
    const eventId = (await record('/hang')) as string
    await vi.waitFor(async () => expect((await deliveryOf(eventId)).status).toBe('dropped'), {
      timeout: 15_000,
    })
    expect(arrivals('/hang')).toHaveLength(4)
    const attempts = await attemptsOf(eventId)
    expect(attempts.map((a) => [a.error_code, a.status_code])).toEqual(Array(4).fill(['timeout', null]))
  })

  it('that fails twice then answers 200 gets three attempts with one delivery id', async () => {
    stack.receiver.on('/flaky', (n) => (n <= 2 ? { status: 503 } : { status: 200 }))
    const eventId = (await record('/flaky')) as string
    await vi.waitFor(async () => expect((await deliveryOf(eventId)).status).toBe('delivered'), {
      timeout: 10_000,
    })
    const got = arrivals('/flaky')
    expect(got).toHaveLength(3)
    expect(new Set(got.map((r) => r.headers['x-imtegrate-delivery-id']))).toEqual(
      new Set([(await deliveryOf(eventId)).id]),
    )
    expect((await attemptsOf(eventId)).map((a) => a.outcome)).toEqual(['retrying', 'retrying', 'delivered'])
  })

  it('that resets the connection is retried like any failure', async () => {
    stack.receiver.on('/reset', (n) => (n === 1 ? 'reset' : { status: 204 }))
    const eventId = (await record('/reset')) as string
    await vi.waitFor(async () => expect((await deliveryOf(eventId)).status).toBe('delivered'), {
      timeout: 10_000,
    })
    expect((await attemptsOf(eventId)).map((a) => [a.error_code, a.outcome])).toEqual([
      ['connection_reset', 'retrying'],
      [null, 'delivered'],
    ])
  })
})

describe('an org without a render-webhook secret', () => {
  it('is sent nothing unsigned: the delivery fails with no_signing_secret and is dropped', async () => {
    const eventId = (await record('/unsigned', { orgId: 'org_without_secret' })) as string
    await vi.waitFor(async () => expect((await deliveryOf(eventId)).status).toBe('dropped'))
    expect(arrivals('/unsigned')).toHaveLength(0)
    expect(await attemptsOf(eventId)).toEqual([
      { attempt_no: 1, status_code: null, error_code: 'no_signing_secret', outcome: 'dropped' },
    ])
  })
})
