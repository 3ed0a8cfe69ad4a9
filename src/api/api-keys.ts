import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiKeyRow } from '../store/api-keys.ts'
import { activeKeyHash, insertApiKey } from '../store/api-keys.ts'
import type { Db } from '../store/database.ts'

// API keys for the HTTP API, held by the render service's backend: `iwk_<16 hex>_<43 base64url>`.
// The hex part names the key (key_<hex>, shown in lists and logs); only a SHA-256 of the secret
// part is stored (it is 32 random bytes: a slow hash would add nothing), and the key is shown once.

const KEY = /^iwk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

const hash = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex')

export type IssuedKey = ApiKeyRow & { key: string }

/** Makes a key named `name`; the key itself is in this answer only. */
export async function issueApiKey(db: Db, name: string): Promise<IssuedKey> {
  const hex = randomBytes(8).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  const row = await insertApiKey(db, { id: `key_${hex}`, name, secretHash: hash(secret) })
  return { ...row, key: `iwk_${hex}_${secret}` }
}

/** The id of the active key `token` is, or undefined (malformed, unknown, wrong or revoked: all alike). */
export async function authenticate(db: Db, token: string): Promise<string | undefined> {
  const match = KEY.exec(token)
  if (match === null) {
    return undefined
  }
  const id = `key_${match[1]}`
  const stored = await activeKeyHash(db, id)
  if (stored === undefined) {
    return undefined
  }
  const given = Buffer.from(hash(match[2] as string), 'hex')
  const expected = Buffer.from(stored, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined
}
