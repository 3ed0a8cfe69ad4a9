import { Webhook } from 'standardwebhooks'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateSecret, signatureHeaders } from '../../src/delivery/sign.ts'
import { verifyImtegrateSignature, verifyStandardWebhook } from '../../src/dev/verify.ts'

// The listen command verifies as a receiver would, with node:crypto only (the CLI must not need a
// development dependency); these hold it to the standardwebhooks package on the same inputs.

const secret = generateSecret()
const other = generateSecret()
const body = '{"type":"image.completed","created_at":"2026-05-04T10:01:23Z","data":{"id":"img_1"}}'
const now = 1_780_000_000

/** The package's verdict with its clock at `at` (it reads Date.now()). */
function packageAccepts(key: string, payload: string, headers: Record<string, string>, at: number): boolean {
  vi.useFakeTimers({ now: at * 1000, toFake: ['Date'] })
  try {
    new Webhook(key).verify(payload, headers)
    return true
  } catch {
    return false
  } finally {
    vi.useRealTimers()
  }
}

const sent = (timestamp: number, keys: { current: string; previous?: string } = { current: secret }) =>
  signatureHeaders(keys, 'dlv_1', timestamp, body)

afterEach(() => {
  vi.useRealTimers()
})

describe('verifying a webhook in the listen command', () => {
  it.each([
    ['as sent', sent(now), body, secret, true],
    [
      'during a rotation, by the old secret',
      sent(now, { current: other, previous: secret }),
      body,
      secret,
      true,
    ],
    [
      'during a rotation, by the new secret',
      sent(now, { current: other, previous: secret }),
      body,
      other,
      true,
    ],
    ['a changed body', sent(now), `${body} `, secret, false],
    ['another secret', sent(now), body, other, false],
    ['sent 6 minutes before now', sent(now - 360), body, secret, false],
    ['sent 6 minutes after now', sent(now + 360), body, secret, false],
    ['sent 4 minutes before now', sent(now - 240), body, secret, true],
    [
      'a v2 signature',
      { ...sent(now), 'webhook-signature': String(sent(now)['webhook-signature']).replace('v1,', 'v2,') },
      body,
      secret,
      false,
    ],
    ['no signature', { ...sent(now), 'webhook-signature': '' }, body, secret, false],
    ['a bad timestamp', { ...sent(now), 'webhook-timestamp': 'soon' }, body, secret, false],
  ])('agrees with the standardwebhooks package: %s', (_, headers, payload, key, accepted) => {
    const ours = verifyStandardWebhook(
      payload,
      {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
      },
      key,
      now,
    )
    expect(ours.ok).toBe(accepted)
    expect(packageAccepts(key, payload, headers, now)).toBe(accepted)
  })

  it('accepts what the package itself signs', () => {
    const signature = new Webhook(secret).sign('dlv_9', new Date(now * 1000), body)
    expect(
      verifyStandardWebhook(body, { id: 'dlv_9', timestamp: String(now), signature }, secret, now),
    ).toEqual({
      ok: true,
    })
  })

  it('checks X-Imtegrate-Signature as the README does', () => {
    const signature = sent(now)['x-imtegrate-signature']
    expect(verifyImtegrateSignature(body, signature, secret)).toEqual({ ok: true })
    expect(verifyImtegrateSignature(`${body} `, signature, secret)).toEqual({
      ok: false,
      reason: 'X-Imtegrate-Signature does not match',
    })
    expect(verifyImtegrateSignature(body, signature, other).ok).toBe(false)
    expect(verifyImtegrateSignature(body, undefined, secret)).toEqual({
      ok: false,
      reason: 'no X-Imtegrate-Signature',
    })
  })
})
