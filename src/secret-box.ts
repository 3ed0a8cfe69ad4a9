import type { KeyObject } from 'node:crypto'
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes } from 'node:crypto'
import { WebhookError } from './errors.ts'
import { boundedMemo } from './memo.ts'

/** Seals destination secrets for storage and opens them for signing. */
export type SecretBox = {
  /** True when secrets are written encrypted (a key is configured). */
  readonly encrypts: boolean
  /** The current key's id as envelopes name it (undefined without a key). */
  readonly keyId: string | undefined
  seal(secret: string): string
  /** Throws SECRET_UNREADABLE when no configured key opens it. */
  open(stored: string): string
  /** True when `stored` is what seal() writes now: sealed under the current key (with no key: in the clear). */
  isCurrent(stored: string): boolean
}

const ENVELOPE = 'enc:v1:'
/** A full-length GCM tag; shorter ones would make forgeries cheaper, so they are refused. */
const TAG_BYTES = 16
/**
 * Opened secrets kept in memory, so a burst of deliveries to one destination decrypts its
 * secret once rather than per attempt (the secret is in this process's memory either way).
 */
const OPENED_CACHE_SIZE = 1_000

/**
 * AES-256-GCM under WEBHOOK_SECRETS_KEY. A stored secret is `enc:v1:<key id>:<iv>:<tag>:<data>`
 * (the key id is a hash prefix, so after a key rotation the previous key still opens old rows
 * until `secrets reencrypt` re-seals them); without a key, secrets are stored as written
 * (`whsec_…`), and plaintext rows are always read as they are.
 */
export function createSecretBox(key?: string, previousKey?: string): SecretBox {
  // KeyObjects: node:crypto takes a raw Buffer key through a much slower path on every call.
  const toKey = (k: string) => {
    const bytes = Buffer.from(k, 'base64')
    return { id: keyId(bytes), key: createSecretKey(bytes) }
  }
  const current = key === undefined ? undefined : toKey(key)
  const readable = [key, previousKey].filter((k): k is string => k !== undefined).map(toKey)
  const opened = boundedMemo(OPENED_CACHE_SIZE, (stored) => decrypt(readable, stored))
  return {
    encrypts: current !== undefined,
    keyId: current?.id,
    isCurrent(stored) {
      if (!stored.startsWith(ENVELOPE)) {
        return current === undefined
      }
      return stored.slice(ENVELOPE.length).split(':')[0] === current?.id
    },
    seal(secret) {
      if (current === undefined) {
        return secret
      }
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: TAG_BYTES })
      const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
      const parts = [iv, cipher.getAuthTag(), data].map((p) => p.toString('base64url'))
      return `${ENVELOPE}${current.id}:${parts.join(':')}`
    },
    open(stored) {
      if (!stored.startsWith(ENVELOPE)) {
        return stored
      }
      return opened(stored)
    },
  }
}

function decrypt(readable: ReadonlyArray<{ id: string; key: KeyObject }>, stored: string): string {
  const [id, iv, tag, data] = stored.slice(ENVELOPE.length).split(':')
  const found = readable.find((k) => k.id === id)
  if (found === undefined || iv === undefined || tag === undefined || data === undefined) {
    throw new WebhookError(
      'SECRET_UNREADABLE',
      `a stored secret was sealed with key ${id}, which is neither WEBHOOK_SECRETS_KEY nor WEBHOOK_SECRETS_KEY_PREVIOUS`,
    )
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', found.key, Buffer.from(iv, 'base64url'), {
      authTagLength: TAG_BYTES,
    })
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
  } catch (error) {
    throw new WebhookError(
      'SECRET_UNREADABLE',
      `a stored secret sealed with key ${id} failed authentication (damaged, or sealed by another key with the same id)`,
      { cause: error },
    )
  }
}

/** The first 8 hex digits of the key's SHA-256: names the key in envelopes without revealing it. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}
