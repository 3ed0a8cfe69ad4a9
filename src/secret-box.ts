import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { WebhookError } from './errors.ts'

/** Seals destination secrets for storage and opens them for signing. */
export type SecretBox = {
  /** True when secrets are written encrypted (a key is configured). */
  readonly encrypts: boolean
  seal(secret: string): string
  open(stored: string): string
}

const ENVELOPE = 'enc:v1:'

/**
 * AES-256-GCM under WEBHOOK_SECRETS_KEY. A stored secret is `enc:v1:<key id>:<iv>:<tag>:<data>`
 * (the key id is a hash prefix, so after a key rotation the previous key still opens old rows
 * until they are re-sealed); without a key, secrets are stored as written (`whsec_…`).
 */
export function createSecretBox(key?: string, previousKey?: string): SecretBox {
  const keys = [key, previousKey]
    .filter((k): k is string => k !== undefined)
    .map((k) => Buffer.from(k, 'base64'))
  const current = keys[0]
  return {
    encrypts: current !== undefined,
    seal(secret) {
      if (current === undefined) {
        return secret
      }
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current, iv)
      const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
      const parts = [keyId(current), iv, cipher.getAuthTag(), data].map((p) =>
        typeof p === 'string' ? p : p.toString('base64url'),
      )
      return ENVELOPE + parts.join(':')
    },
    open(stored) {
      if (!stored.startsWith(ENVELOPE)) {
        return stored
      }
      const [id, iv, tag, data] = stored.slice(ENVELOPE.length).split(':')
      const found = keys.find((k) => keyId(k) === id)
      if (found === undefined || iv === undefined || tag === undefined || data === undefined) {
        throw new WebhookError(
          'SECRET_UNREADABLE',
          `a stored secret was sealed with key ${id}, which is neither WEBHOOK_SECRETS_KEY nor WEBHOOK_SECRETS_KEY_PREVIOUS`,
        )
      }
      const decipher = createDecipheriv('aes-256-gcm', found, Buffer.from(iv, 'base64url'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
        'utf8',
      )
    },
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}
