import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// Bearer tokens of the form `<prefix>_<16 hex>_<43 base64url>`: API keys (iwk), portal links (ipl)
// and portal sessions (ips). The hex part names the token (<idPrefix>_<hex>, shown in lists and
// logs); only a SHA-256 of the secret part is stored (it is 32 random bytes: a slow hash would add
// nothing).

export type Minted = { id: string; token: string; secret: string; secretHash: string }

export const hashSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex')

/** A new token; its id names the row, its hash is what is stored. */
export function mintToken(prefix: string, idPrefix: string): Minted {
  const hex = randomBytes(8).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  return {
    id: `${idPrefix}_${hex}`,
    token: `${prefix}_${hex}_${secret}`,
    secret,
    secretHash: hashSecret(secret),
  }
}

/** The id and secret a token names, or undefined for anything not shaped as one of `prefix`. */
export function parseToken(
  prefix: string,
  idPrefix: string,
  token: string,
): { id: string; secret: string } | undefined {
  const match = new RegExp(`^${prefix}_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$`).exec(token)
  return match === null ? undefined : { id: `${idPrefix}_${match[1]}`, secret: match[2] as string }
}

/** Whether `secret` hashes to `stored`, compared in constant time. */
export function matchesHash(secret: string, stored: string | undefined): boolean {
  if (stored === undefined) {
    return false
  }
  const given = Buffer.from(hashSecret(secret), 'hex')
  const expected = Buffer.from(stored, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}
