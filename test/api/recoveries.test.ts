import { describe, expect, it, vi } from 'vitest'
import { refusal, TEST_KEY, testApi } from '../helpers/api.ts'
import { seedDropped } from '../helpers/dropped.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

// A generous request timeout: on a loaded machine a short one fails requests the receiver answered,
// and their retries would count as arrivals.
const stack = useDeliveryStack({ WEBHOOK_SECRETS_KEY: TEST_KEY, WEBHOOK_REQUEST_TIMEOUT: '10s' })
const api = () => testApi(stack.testDb)

const hourAgo = () => new Date(Date.now() - 3_600_000).toISOString()

async function completed(org: string, id: string) {
  await vi.waitFor(
    async () => expect((await api().getRecovery(org, { recovery_id: id })).status).toBe('completed'),
    { timeout: 20_000, interval: 100 },
  )
  return api().getRecovery(org, { recovery_id: id })
}

async function deliveriesOf(endpointId: string) {
  const { rows } = await stack.testDb.pool.query<{ id: string; status: string; replays: number }>(
    'select id, status, replays from webhooks.deliveries where endpoint_id = $1 order by id',
    [endpointId],
  )
  return rows
}

describe('bulk recovery', () => {
  it('counts first, then replays every dropped delivery since the time in the background, once each', async () => {
    const ep = await api().createEndpoint('org_r', { url: stack.receiver.url('/r1') })
    const recent = await seedDropped(stack.testDb, 'org_r', ep.id, 30, 10)
    await seedDropped(stack.testDb, 'org_r', ep.id, 5, 24 * 60)
    expect(await api().countRecoverable('org_r', { endpoint_id: ep.id, since: hourAgo() })).toMatchObject({
      endpoint_id: ep.id,
      count: 30,
    })
    const run = await api().startRecovery('org_r', { endpoint_id: ep.id, since: hourAgo() })
    expect(run).toMatchObject({ endpoint_id: ep.id, status: 'queued', total: 30, processed: 0 })
    const done = await completed('org_r', run.id)
    expect(done).toMatchObject({ total: 30, processed: 30, replayed: 30, skipped: 0 })
    expect(done.finished_at).not.toBeNull()
    await vi.waitFor(() => expect(stack.arrivals('/r1')).toHaveLength(30), { timeout: 10_000 })
    const ids = stack.arrivals('/r1').map((r) => String(r.headers['x-imtegrate-delivery-id']))
    expect(ids.sort()).toEqual(recent)
    const rows = await deliveriesOf(ep.id)
    expect(rows.filter((r) => r.replays === 1).map((r) => r.id)).toEqual(recent)
    expect((await api().listRecoveries('org_r')).data.map((r) => r.id)).toEqual([run.id])
  })

  it('is safe to repeat: two runs at once replay each delivery once between them', async () => {
    const ep = await api().createEndpoint('org_r2', { url: stack.receiver.url('/r2') })
    const dropped = await seedDropped(stack.testDb, 'org_r2', ep.id, 40)
    const [a, b] = await Promise.all([
      api().startRecovery('org_r2', { endpoint_id: ep.id, since: hourAgo() }),
      api().startRecovery('org_r2', { endpoint_id: ep.id, since: hourAgo() }),
    ])
    const [doneA, doneB] = [await completed('org_r2', a?.id ?? ''), await completed('org_r2', b?.id ?? '')]
    expect(doneA.replayed + doneB.replayed).toBe(40)
    await vi.waitFor(() => expect(stack.arrivals('/r2')).toHaveLength(40), { timeout: 10_000 })
    expect(new Set(stack.arrivals('/r2').map((r) => r.headers['x-imtegrate-delivery-id'])).size).toBe(40)
    expect((await deliveriesOf(ep.id)).map((r) => r.replays)).toEqual(dropped.map(() => 1))
    // Once everything is delivered, another run finds nothing to do.
    await vi.waitFor(async () =>
      expect((await deliveriesOf(ep.id)).every((r) => r.status === 'delivered')).toBe(true),
    )
    const again = await api().startRecovery('org_r2', { endpoint_id: ep.id, since: hourAgo() })
    expect(again.total).toBe(0)
    expect(await completed('org_r2', again.id)).toMatchObject({ processed: 0, replayed: 0 })
  })

  it("refuses a disabled endpoint, and treats another org's endpoint and recovery as unknown", async () => {
    const ep = await api().createEndpoint('org_r3', { url: stack.receiver.url('/r3') })
    const theirs = await api().createEndpoint('org_r4', { url: stack.receiver.url('/r4') })
    const run = await api().startRecovery('org_r4', { endpoint_id: theirs.id, since: hourAgo() })
    await api().disableEndpoint('org_r3', { endpoint_id: ep.id })
    expect(
      await refusal(api().startRecovery('org_r3', { endpoint_id: ep.id, since: hourAgo() })),
    ).toMatchObject({
      code: 'DESTINATION_INACTIVE',
    })
    for (const call of [
      () => api().startRecovery('org_r3', { endpoint_id: theirs.id, since: hourAgo() }),
      () => api().countRecoverable('org_r3', { endpoint_id: theirs.id, since: hourAgo() }),
    ]) {
      expect(await refusal(call())).toEqual({
        code: 'NOT_FOUND',
        field: undefined,
        message: `no endpoint ${theirs.id}`,
      })
    }
    expect(await refusal(api().getRecovery('org_r3', { recovery_id: run.id }))).toMatchObject({
      code: 'NOT_FOUND',
    })
    expect(
      await refusal(api().startRecovery('org_r3', { endpoint_id: ep.id, since: 'yesterday' })),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'since',
    })
  })
})
