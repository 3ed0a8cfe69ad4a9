import { createHmac } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it, vi } from 'vitest'
import { EXAMPLE_DATA } from '../../src/api/examples.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
// The worker opens secrets with the same key the API seals them with.
import { refusal, TEST_KEY, testApi } from '../helpers/api.ts'
import type { Received } from '../helpers/receiver.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

// A generous request timeout: on a loaded machine a short one fails requests the receiver answered,
// and their retries would count as arrivals.
const stack = useDeliveryStack({ WEBHOOK_SECRETS_KEY: TEST_KEY, WEBHOOK_REQUEST_TIMEOUT: '10s' })
const api = () => testApi(stack.testDb)

async function arrival(path: string, n = 1): Promise<Received> {
  await vi.waitFor(() => expect(stack.arrivals(path).length).toBeGreaterThanOrEqual(n), { timeout: 10_000 })
  return stack.arrivals(path)[n - 1] as Received
}

const verifies = (request: Received, secret: string) => {
  try {
    new Webhook(secret).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    })
    return true
  } catch {
    return false
  }
}

describe('sending an example event', () => {
  it('reaches the one endpoint, signed, marked as a test, with the example payload of its type', async () => {
    const ep = await api().createEndpoint('org_t', {
      url: stack.receiver.url('/t1'),
      event_types: ['image.completed'],
    })
    const other = await api().createEndpoint('org_t', { url: stack.receiver.url('/t1-other') })
    const sent = await api().sendTestEvent('org_t', { endpoint_id: ep.id, event_type: 'video.failed' })
    expect(sent).toMatchObject({ event_type: 'video.failed', delivery_id: expect.stringMatching(/^dlv_/) })
    const request = await arrival('/t1')
    expect(request.headers['x-imtegrate-test']).toBe('true')
    expect(request.headers['x-imtegrate-delivery-id']).toBe(sent.delivery_id)
    expect(JSON.parse(request.body)).toEqual({
      type: 'video.failed',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      data: EXAMPLE_DATA['video.failed'],
    })
    expect(createHmac('sha256', ep.secret).update(request.body).digest('hex')).toBe(
      request.headers['x-imtegrate-signature'],
    )
    expect(verifies(request, ep.secret)).toBe(true)
    // The org's other endpoint gets nothing, although it takes every type.
    expect(stack.arrivals('/t1-other')).toEqual([])
    expect(other.id).not.toBe(ep.id)

    // The delivery shows as a test, with the headers the receiver got (signatures not kept).
    await vi.waitFor(async () =>
      expect((await api().getDelivery('org_t', { delivery_id: sent.delivery_id })).status).toBe('delivered'),
    )
    const detail = await api().getDelivery('org_t', { delivery_id: sent.delivery_id })
    expect(detail).toMatchObject({ test: true, render_id: null, event_type: 'video.failed' })
    const [attempt] = detail.attempt_log
    const received = Object.fromEntries(
      Object.keys(attempt?.request_headers ?? {}).map((name) => [name, request.headers[name] ?? null]),
    )
    expect(attempt?.request_headers).toEqual({
      ...received,
      'webhook-signature': null,
      'x-imtegrate-signature': null,
    })
    const listed = await api().listDeliveries('org_t', { endpoint_id: [ep.id] })
    expect(listed.data.map((d) => [d.id, d.test])).toEqual([[sent.delivery_id, true]])
  })

  it("never stands in for a render's event", async () => {
    await api().createEndpoint('org_t2', { url: stack.receiver.url('/t2') })
    const ep = (await api().listEndpoints('org_t2')).data[0]
    await api().sendTestEvent('org_t2', { endpoint_id: ep?.id ?? '', event_type: 'image.completed' })
    // A real render whose id is the example's makes its own event.
    const eventId = await stack.testDb.db.transaction().execute((trx) =>
      recordRenderStatus(trx, {
        orgId: 'org_t2',
        renderId: String((EXAMPLE_DATA['image.completed'] as { id: string }).id),
        kind: 'image',
        status: 'completed',
      }),
    )
    expect(eventId).toMatch(/^evt_/)
    await arrival('/t2', 2)
    const renders = await api().listDeliveries('org_t2', { render_id: ['img_example'] })
    expect(renders.data.map((d) => [d.event_id, d.test])).toEqual([[eventId, false]])
    const tests = stack.arrivals('/t2').filter((r) => r.headers['x-imtegrate-test'] === 'true')
    expect(tests).toHaveLength(1)
  })

  it('is refused for a disabled endpoint, and for an unknown or deleted one as not found', async () => {
    const ep = await api().createEndpoint('org_t3', { url: stack.receiver.url('/t3') })
    await api().disableEndpoint('org_t3', { endpoint_id: ep.id })
    expect(
      await refusal(api().sendTestEvent('org_t3', { endpoint_id: ep.id, event_type: 'image.failed' })),
    ).toMatchObject({ code: 'DESTINATION_INACTIVE' })
    await api().deleteEndpoint('org_t3', { endpoint_id: ep.id })
    expect(
      await refusal(api().sendTestEvent('org_t3', { endpoint_id: ep.id, event_type: 'image.failed' })),
    ).toMatchObject({ code: 'NOT_FOUND' })
    expect(
      await refusal(
        api().sendTestEvent('org_t3', { endpoint_id: ep.id, event_type: 'image.done' as 'image.failed' }),
      ),
    ).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'event_type' })
  })
})

describe('rotating an endpoint secret through the API', () => {
  it('keeps the old secret signing beside the new one during the grace period', async () => {
    const ep = await api().createEndpoint('org_t4', { url: stack.receiver.url('/t4') })
    const rotated = await api().rotateEndpointSecret('org_t4', { endpoint_id: ep.id })
    await api().sendTestEvent('org_t4', { endpoint_id: ep.id, event_type: 'collection.completed' })
    const request = await arrival('/t4')
    expect(verifies(request, ep.secret)).toBe(true)
    expect(verifies(request, rotated.secret)).toBe(true)
    expect(createHmac('sha256', rotated.secret).update(request.body).digest('hex')).toBe(
      request.headers['x-imtegrate-signature'],
    )
  })
})
