import type { KeyObject } from 'node:crypto'
import { createHmac, createSecretKey, randomBytes } from 'node:crypto'
import { boundedMemo } from '../memo.ts'

const PREFIX = 'whsec_'

/** A new destination secret: `whsec_` + 32 random bytes, base64 (Standard Webhooks form). */
export function generateSecret(): string {
  return PREFIX + randomBytes(32).toString('base64')
}

type HmacKeys = { imtegrate: KeyObject; standard: KeyObject }

/**
 * A secret's two HMAC keys, made once per secret (up to 1,000 kept): node:crypto takes a raw
 * Buffer key through a slower path on every call (about 10 µs), which a worker would pay on
 * every attempt.
 */
const hmacKeys = boundedMemo(1_000, (secret): HmacKeys => {
  const standard = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64')
  return { imtegrate: createSecretKey(Buffer.from(secret, 'utf8')), standard: createSecretKey(standard) }
})

/** Lowercase hex HMAC-SHA256 of the raw body keyed by the secret string's UTF-8 bytes. */
export function imtegrateSignature(secret: string, body: string): string {
  return createHmac('sha256', hmacKeys(secret).imtegrate).update(body).digest('hex')
}

/** Standard Webhooks `v1,<base64>` over `id.timestamp.body`, keyed by the decoded secret. */
export function standardSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = hmacKeys(secret).standard
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

export type SigningKeys = { current: string; previous?: string | undefined }

/**
 * The signature headers of one attempt. During a rotation's grace period `webhook-signature`
 * carries a signature by each valid secret (space-separated), so a receiver still holding the
 * old secret keeps verifying; `X-Imtegrate-Signature` always uses the current one.
 */
export function signatureHeaders(
  keys: SigningKeys,
  deliveryId: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  const signatures = [standardSignature(keys.current, deliveryId, timestamp, body)]
  if (keys.previous !== undefined) {
    signatures.push(standardSignature(keys.previous, deliveryId, timestamp, body))
  }
  return {
    'x-imtegrate-signature': imtegrateSignature(keys.current, body),
    'webhook-id': deliveryId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  }
}
