import { createHmac } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it, vi } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { CliResult } from '../helpers/cli.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { Received } from '../helpers/receiver.ts'
import { useDeliveryStack } from '../helpers/stack.ts'

const stack = useDeliveryStack()

// The seed documentation's verify function, as customers run it.
const imtegrateVerifies = (request: Received, secret: string) =>
  createHmac('sha256', secret).update(request.body).digest('hex') === request.headers['x-imtegrate-signature']

/** What an off-the-shelf Standard Webhooks receiver holding only `secret` decides. */
function standardVerifies(request: Received, secret: string): boolean {
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

type Destination = {
  /** Makes the destination; returns its first secret. */
  create(): Promise<string>
  /** Rotates its secret with the given grace; returns the new one. */
  rotate(grace: string, force?: boolean): Promise<string>
  /** Rotates while the previous secret still signs, without --force: the CLI's answer. */
  rotateRefused(): Promise<CliResult>
  /** Records an event for it and waits until it arrived. */
  send(): Promise<Received>
}

let seq = 0
function destination(org: string, path: string, orgWide: boolean): Destination {
  let endpointId = ''
  return {
    async create() {
      if (orgWide) {
        const created = await runCliJson<{ id: string; secret: string }>(stack.testDb, [
          'endpoints',
          'create',
          '--org',
          org,
          '--url',
          stack.receiver.url(path),
        ])
        endpointId = created.id
        return created.secret
      }
      return (await runCliJson<{ secret: string }>(stack.testDb, ['secrets', 'create', '--org', org])).secret
    },
    async rotate(grace, force = false) {
      const argv = orgWide ? ['endpoints', 'rotate-secret', endpointId] : ['secrets', 'rotate', '--org', org]
      const env = { WEBHOOK_SECRET_ROTATION_GRACE: grace }
      return (
        await runCliJson<{ secret: string }>(stack.testDb, [...argv, ...(force ? ['--force'] : [])], env)
      ).secret
    },
    rotateRefused() {
      const argv = orgWide ? ['endpoints', 'rotate-secret', endpointId] : ['secrets', 'rotate', '--org', org]
      return runCli(stack.testDb, argv)
    },
    async send() {
      const renderId = `img_rot_${++seq}`
      await stack.testDb.db.transaction().execute((trx) =>
        recordRenderStatus(trx, {
          orgId: org,
          renderId,
          kind: 'image',
          status: 'completed',
          webhookUrl: orgWide ? null : stack.receiver.url(path),
        }),
      )
      return vi.waitFor(
        () => {
          const request = stack.receiver.requests.find(
            (r) => r.path === path && JSON.parse(r.body).data.id === renderId,
          )
          expect(request).toBeDefined()
          return request as Received
        },
        { timeout: 10_000 },
      )
    },
  }
}

describe.each([
  ['an org endpoint, by `endpoints rotate-secret`', destination('org_rot_ep', '/rot-ep', true)],
  [
    'the org’s render-webhook secret, by `secrets rotate`',
    destination('org_rot_render', '/rot-render', false),
  ],
])('rotating %s', (_, dest) => {
  it('signs with the new secret, and old-secret Standard Webhooks verifiers keep accepting during the grace period', async () => {
    const oldSecret = await dest.create()
    const before = await dest.send()
    expect(imtegrateVerifies(before, oldSecret)).toBe(true)
    expect(standardVerifies(before, oldSecret)).toBe(true)

    const newSecret = await dest.rotate('24h')
    expect(newSecret).not.toBe(oldSecret)
    const during = await dest.send()
    expect(imtegrateVerifies(during, newSecret)).toBe(true)
    expect(imtegrateVerifies(during, oldSecret)).toBe(false)
    expect(standardVerifies(during, newSecret)).toBe(true)
    expect(standardVerifies(during, oldSecret)).toBe(true)
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2)

    // Regression: rotating again inside the grace retired the first secret at once, silently,
    // failing receivers still on it. It is refused, naming until when, and sends nothing new.
    const refused = await dest.rotateRefused()
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(
      /still signs until \d{4}-.*Wait until then, or rotate with force \(--force\)$/,
    )
    const still = await dest.send()
    expect(standardVerifies(still, oldSecret)).toBe(true)
    expect(imtegrateVerifies(still, newSecret)).toBe(true)

    // With --force, and no grace, it retires the secret it replaces at once.
    const newest = await dest.rotate('0s', true)
    const after = await dest.send()
    expect(imtegrateVerifies(after, newest)).toBe(true)
    expect(standardVerifies(after, newest)).toBe(true)
    expect(standardVerifies(after, newSecret)).toBe(false)
    expect(standardVerifies(after, oldSecret)).toBe(false)
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1)
  })
})
