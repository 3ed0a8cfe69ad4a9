import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * What a receiver does with a webhook, written as a receiver would, independently of the signing
 * code (src/delivery/sign.ts), for `imtegrate-webhooks listen`. node:crypto only: the CLI must not
 * need the `standardwebhooks` package (a development dependency), against which it is tested.
 */
export type Verdict = { ok: true } | { ok: false; reason: string }

/** Standard Webhooks' default: a timestamp further than this from now is refused (replays). */
export const TOLERANCE_SECONDS = 5 * 60

/** The README's verify function: X-Imtegrate-Signature, hex HMAC-SHA256 of the raw body. */
export function verifyImtegrateSignature(
  body: string,
  signature: string | undefined,
  secret: string,
): Verdict {
  if (signature === undefined) {
    return { ok: false, reason: 'no X-Imtegrate-Signature' }
  }
  const mac = createHmac('sha256', secret).update(body).digest('hex')
  return mac.length === signature.length && timingSafeEqual(Buffer.from(mac), Buffer.from(signature))
    ? { ok: true }
    : { ok: false, reason: 'X-Imtegrate-Signature does not match' }
}

export type StandardHeaders = {
  id?: string | undefined
  timestamp?: string | undefined
  signature?: string | undefined
}

/**
 * Standard Webhooks: `webhook-signature` lists `v1,<base64>` signatures (one per valid secret
 * during a rotation) over `id.timestamp.body`, keyed by the base64 part of the `whsec_` secret;
 * one must match, and the timestamp must be within the tolerance of `nowSeconds`.
 */
export function verifyStandardWebhook(
  body: string,
  headers: StandardHeaders,
  secret: string,
  nowSeconds: number,
): Verdict {
  const { id, timestamp, signature } = headers
  if (id === undefined || timestamp === undefined || signature === undefined) {
    return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' }
  }
  const sentAt = Number(timestamp)
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - sentAt) > TOLERANCE_SECONDS) {
    return { ok: false, reason: 'webhook-timestamp is not within 5 minutes of now' }
  }
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  const matches = signature.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2)
    const given = Buffer.from(value ?? '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
  return matches ? { ok: true } : { ok: false, reason: 'no webhook-signature matches' }
}
