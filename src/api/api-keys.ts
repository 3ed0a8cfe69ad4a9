import type { ApiKeyRow } from '../store/api-keys.ts'
import { activeKeyHash, insertApiKey } from '../store/api-keys.ts'
import type { Db } from '../store/database.ts'
import { matchesHash, mintToken, parseToken } from './tokens.ts'

// API keys for the HTTP API, held by the render service's backend: `iwk_<16 hex>_<43 base64url>`,
// named key_<hex>; shown once, stored hashed (tokens.ts).

export type IssuedKey = ApiKeyRow & { key: string }

/** Makes a key named `name`; the key itself is in this answer only. */
export async function issueApiKey(db: Db, name: string): Promise<IssuedKey> {
  const minted = mintToken('iwk', 'key')
  const row = await insertApiKey(db, { id: minted.id, name, secretHash: minted.secretHash })
  return { ...row, key: minted.token }
}

/** The id of the active key `token` is, or undefined (malformed, unknown, wrong or revoked: all alike). */
export async function authenticate(db: Db, token: string): Promise<string | undefined> {
  const parsed = parseToken('iwk', 'key', token)
  if (parsed === undefined) {
    return undefined
  }
  return matchesHash(parsed.secret, await activeKeyHash(db, parsed.id)) ? parsed.id : undefined
}
