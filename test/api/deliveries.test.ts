import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import { refusal, testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { dlv, seedHistory } from '../helpers/history-seed.ts'

let testDb: TestDb
let api: WebhooksApi

beforeAll(async () => {
  testDb = await createTestDatabase()
  await seedHistory(testDb)
  api = testApi(testDb)
})
afterAll(() => testDb?.drop())

const ids = async (input: Parameters<WebhooksApi['listDeliveries']>[1]) =>
  (await api.listDeliveries('org_1', input)).data.map((d) => d.id).sort()

describe('listing deliveries', () => {
  it("lists the org's deliveries newest first, and none of another org's", async () => {
    const { data, next_cursor, prev_cursor } = await api.listDeliveries('org_1')
    expect(data.map((d) => d.id).sort()).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10].map(dlv))
    const times = data.map((d) => Date.parse(d.created_at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
    expect({ next_cursor, prev_cursor }).toEqual({ next_cursor: null, prev_cursor: null })
    expect(data.find((d) => d.id === dlv(2))).toMatchObject({
      event_id: 'evt_e1',
      event_type: 'image.completed',
      render_id: 'img_xyz',
      destination: 'ep_1',
      endpoint_id: 'ep_1',
      status: 'dropped',
      last_error: 'http_503: the receiver answered 503',
      test: false,
    })
    expect((await api.listDeliveries('org_2')).data.map((d) => d.id)).toEqual([dlv(6)])
  })

  it('filters by several values of each filter at once, and by all filters together', async () => {
    expect(await ids({ status: ['dropped', 'pending'] })).toEqual([2, 4, 5, 7, 10].map(dlv))
    expect(await ids({ status: ['delivered'] })).toEqual([1, 3, 8, 9].map(dlv))
    expect(await ids({ event_type: ['video.failed', 'video.completed'] })).toEqual([4, 5, 9].map(dlv))
    expect(await ids({ endpoint_id: ['ep_2', 'render_url'] })).toEqual([1, 5, 8, 9].map(dlv))
    expect(await ids({ render_id: ['img_xyz', 'img_recent'] })).toEqual([1, 2, 8, 10].map(dlv))
    expect(await ids({ since: new Date(Date.now() - 28 * 3_600_000).toISOString() })).not.toContain(dlv(5))
    expect(await ids({ until: new Date(Date.now() - 28 * 3_600_000).toISOString() })).toEqual([5, 9].map(dlv))
    expect(
      await ids({
        status: ['dropped'],
        endpoint_id: ['ep_1'],
        event_type: ['image.completed', 'video.failed'],
      }),
    ).toEqual([2, 4].map(dlv))
    expect(await ids({ endpoint_id: ['ep_nobody'] })).toEqual([])
  })

  it('refuses bad filters naming them', async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => api.listDeliveries('org_1', { status: ['lost' as 'dropped'] }), 'status.0'],
      [() => api.listDeliveries('org_1', { event_type: ['image.*' as 'image.failed'] }), 'event_type.0'],
      [() => api.listDeliveries('org_1', { since: '2026-05-04T10:00:00' }), 'since'],
      [
        () => api.listDeliveries('org_1', { since: '2026-05-04T10:00:00Z', until: '2026-05-04T09:00:00Z' }),
        'until',
      ],
      [() => api.listDeliveries('org_1', { render_id: [] }), 'render_id'],
      [() => api.listDeliveries('org_1', { after: 'eyJ4IjoxfQ' }), 'after'],
    ]
    for (const [call, field] of cases) {
      expect(await refusal(call())).toMatchObject({ code: 'INVALID_ARGUMENT', field })
    }
  })
})

describe('one delivery', () => {
  it('has its payload and every attempt with the request headers and the answer excerpt', async () => {
    const detail = await api.getDelivery('org_1', { delivery_id: dlv(2) })
    expect(detail.payload).toEqual({ type: 'image.completed', created_at: expect.any(String), data: {} })
    expect(detail.attempt_log).toHaveLength(2)
    const [first, second] = detail.attempt_log
    expect(first).toMatchObject({
      attempt: 1,
      replay: 0,
      status_code: null,
      error: 'timeout: no complete answer within 10s',
    })
    expect(second).toMatchObject({
      attempt: 2,
      status_code: 503,
      outcome: 'dropped',
      response_excerpt: '{"error": "busy",\n  "retry": "later, please: the queue is full"}',
    })
    expect(second?.request_headers).toEqual({
      'content-type': 'application/json',
      'user-agent': expect.stringMatching(/^Imtegrate-Webhooks\//),
      'x-imtegrate-delivery-id': dlv(2),
      'x-imtegrate-event-type': 'image.completed',
      'x-imtegrate-attempt': '2',
      'webhook-id': dlv(2),
      'webhook-timestamp': String(Math.floor(Date.parse(second?.started_at ?? '') / 1000)),
      'webhook-signature': null,
      'x-imtegrate-signature': null,
    })
  })

  it("answers another org's delivery exactly as an unknown one", async () => {
    const other = await refusal(api.getDelivery('org_1', { delivery_id: dlv(6) }))
    const unknown = await refusal(api.getDelivery('org_1', { delivery_id: 'dlv_nope' }))
    expect(other).toEqual({ code: 'NOT_FOUND', field: undefined, message: `no delivery ${dlv(6)}` })
    expect(unknown).toEqual({ code: 'NOT_FOUND', field: undefined, message: 'no delivery dlv_nope' })
  })
})

describe('replaying one delivery', () => {
  it('makes a dropped or delivered delivery pending again, once', async () => {
    expect(await api.replayDelivery('org_1', { delivery_id: dlv(2) })).toEqual({
      delivery_id: dlv(2),
      status: 'pending',
    })
    expect(await refusal(api.replayDelivery('org_1', { delivery_id: dlv(2) }))).toMatchObject({
      code: 'DELIVERY_IN_PROGRESS',
    })
    expect(await refusal(api.replayDelivery('org_1', { delivery_id: dlv(10) }))).toMatchObject({
      code: 'DELIVERY_IN_PROGRESS',
    })
    expect(await api.replayDelivery('org_1', { delivery_id: dlv(9) })).toMatchObject({ status: 'pending' })
    const { rows } = await testDb.pool.query(
      'select status, replays from webhooks.deliveries where id = any($1)',
      [[dlv(2), dlv(9)]],
    )
    expect(rows).toEqual([
      { status: 'pending', replays: 1 },
      { status: 'pending', replays: 1 },
    ])
  })

  it('refuses a delivery whose endpoint is disabled, and one of another org as unknown', async () => {
    await testDb.pool.query(`insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, status,
        dropped_at)
      values ('dlv_to_ep4', 'evt_e2', 'org_1', 'ep_4', 'ep_4', 'http://127.0.0.1:9/ep4', 'dropped', now())`)
    expect(await refusal(api.replayDelivery('org_1', { delivery_id: 'dlv_to_ep4' }))).toMatchObject({
      code: 'DESTINATION_INACTIVE',
    })
    expect(await refusal(api.replayDelivery('org_1', { delivery_id: dlv(6) }))).toEqual({
      code: 'NOT_FOUND',
      field: undefined,
      message: `no delivery ${dlv(6)}`,
    })
    const { rows } = await testDb.pool.query('select status from webhooks.deliveries where id = $1', [dlv(6)])
    expect(rows).toEqual([{ status: 'dropped' }])
  })
})
