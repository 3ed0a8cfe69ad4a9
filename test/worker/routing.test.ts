import { createHmac } from 'node:crypto'
import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import type { RenderStatusChange } from '../../src/outbox/record.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

const stack = useDeliveryStack()

const arrivals = stack.arrivals
const renderIds = (path: string) => arrivals(path).map((r) => JSON.parse(r.body).data.id as string)
const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex')

async function createEndpoint(path: string, ...extra: string[]) {
  return runCliJson<{ id: string; secret: string }>(stack.testDb, [
    'endpoints',
    'create',
    '--org',
    'org_r',
    '--url',
    stack.receiver.url(path),
    ...extra,
  ])
}

async function record(change: Omit<RenderStatusChange, 'orgId'> & { orgId?: string }) {
  return stack.testDb.db
    .transaction()
    .execute((trx) => recordRenderStatus(trx, { orgId: 'org_r', templateId: 'tpl_r', ...change }))
}

describe('an org with three endpoints and a per-render URL', () => {
  it('sends each destination exactly the events it should get', async () => {
    const { secret: orgSecret } = await runCliJson<{ secret: string }>(stack.testDb, [
      'secrets',
      'create',
      '--org',
      'org_r',
    ])
    const all = await createEndpoint('/ep-all')
    const video = await createEndpoint('/ep-video', '--events', 'video.*')
    const off = await createEndpoint('/ep-off')
    expect((await runCli(stack.testDb, ['endpoints', 'disable', off.id])).code).toBe(0)

    const render = stack.receiver.url('/render')
    await record({ renderId: 'img_1', kind: 'image', status: 'completed', webhookUrl: render })
    await record({ renderId: 'img_2', kind: 'image', status: 'failed', error: { code: 'E', message: 'm' } })
    await record({ renderId: 'vid_1', kind: 'video', status: 'completed', webhookUrl: render })
    await record({ renderId: 'vid_2', kind: 'video', status: 'failed' })
    await record({ orgId: 'org_x', renderId: 'img_x', kind: 'image', status: 'completed' })
    await record({ renderId: 'marker', kind: 'video', status: 'completed', webhookUrl: render })

    // The marker was recorded last; once it reached every live destination and nothing is
    // left to retry, the counts below are final.
    await vi.waitFor(
      () => {
        for (const path of ['/ep-all', '/ep-video', '/render']) {
          expect(renderIds(path)).toContain('marker')
        }
      },
      { timeout: 10_000 },
    )
    await vi.waitFor(async () => {
      const { rows } = await sql<{ status: string; n: number }>`
        select status, count(*)::int as n from webhooks.deliveries where org_id = 'org_r' group by status`.execute(
        stack.testDb.db,
      )
      expect(rows).toEqual([{ status: 'delivered', n: 11 }])
    })

    expect(renderIds('/ep-all').sort()).toEqual(['img_1', 'img_2', 'marker', 'vid_1', 'vid_2'])
    expect(renderIds('/ep-video').sort()).toEqual(['marker', 'vid_1', 'vid_2'])
    expect(renderIds('/render').sort()).toEqual(['img_1', 'marker', 'vid_1'])
    expect(arrivals('/ep-off')).toEqual([])
    const offDeliveries = await stack.testDb.db
      .selectFrom('webhooks.deliveries')
      .select('id')
      .where('endpoint_id', '=', off.id)
      .execute()
    expect(offDeliveries).toEqual([])

    // Each destination's deliveries are signed with its own secret.
    const secrets = { '/ep-all': all.secret, '/ep-video': video.secret, '/render': orgSecret }
    for (const [path, secret] of Object.entries(secrets)) {
      for (const request of arrivals(path)) {
        expect(request.headers['x-imtegrate-signature']).toBe(hmac(secret, request.body))
      }
    }
    const ids = stack.receiver.requests.map((r) => r.headers['x-imtegrate-delivery-id'])
    expect(new Set(ids).size).toBe(11)
  })

  it('sends a re-enabled endpoint none of the events fanned out while it was disabled', async () => {
    const ep = await createEndpoint('/ep-toggle', '--events', 'image.failed')
    expect((await runCli(stack.testDb, ['endpoints', 'disable', ep.id])).code).toBe(0)
    const whileDisabled = await record({ renderId: 'img_while_disabled', kind: 'image', status: 'failed' })
    // Destinations are chosen at fan-out: wait for it, so the endpoint was disabled then.
    await vi.waitFor(async () => {
      const event = await stack.testDb.db
        .selectFrom('webhooks.events')
        .select('fanned_out_at')
        .where('id', '=', whileDisabled as string)
        .executeTakeFirstOrThrow()
      expect(event.fanned_out_at).not.toBeNull()
    })
    expect((await runCli(stack.testDb, ['endpoints', 'enable', ep.id])).code).toBe(0)
    await record({ renderId: 'img_after_enable', kind: 'image', status: 'failed' })
    await vi.waitFor(() => expect(renderIds('/ep-toggle')).toContain('img_after_enable'), { timeout: 10_000 })
    expect(renderIds('/ep-toggle')).toEqual(['img_after_enable'])
  })
})
