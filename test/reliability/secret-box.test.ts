import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { generateSecret } from '../../src/delivery/sign.ts'
import { createSecretBox } from '../../src/secret-box.ts'

const OLD_KEY = randomBytes(32).toString('base64')
const NEW_KEY = randomBytes(32).toString('base64')
const OTHER_KEY = randomBytes(32).toString('base64')
const SECRET = generateSecret()

function unreadable(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return undefined
}

describe('the secret box', () => {
  it('seals with AES-256-GCM into an envelope naming the key, and opens it again', () => {
    const box = createSecretBox(NEW_KEY)
    const sealed = box.seal(SECRET)
    expect(sealed).toMatch(/^enc:v1:[0-9a-f]{8}:[\w-]+:[\w-]{22}:[\w-]+$/)
    expect(sealed).not.toContain(SECRET)
    expect(sealed).not.toContain(SECRET.slice(6))
    expect(sealed.split(':')[2]).toBe(box.keyId)
    expect(box.open(sealed)).toBe(SECRET)
  })

  it('never seals the same secret to the same text (a fresh IV each time)', () => {
    const box = createSecretBox(NEW_KEY)
    expect(box.seal(SECRET)).not.toBe(box.seal(SECRET))
  })

  it('round-trips any secret, unicode included', () => {
    const box = createSecretBox(NEW_KEY)
    for (const secret of ['', 'a', 'whsec_Zm9v', 'ключ🔑', 'x'.repeat(10_000)]) {
      expect(box.open(box.seal(secret))).toBe(secret)
    }
  })

  it('refuses with SECRET_UNREADABLE what was sealed under a key it does not have', () => {
    const sealed = createSecretBox(OTHER_KEY).seal(SECRET)
    expect(unreadable(() => createSecretBox(NEW_KEY, OLD_KEY).open(sealed))).toBe('SECRET_UNREADABLE')
    expect(unreadable(() => createSecretBox().open(sealed))).toBe('SECRET_UNREADABLE')
  })

  it('refuses with SECRET_UNREADABLE an envelope that was tampered with or cut short', () => {
    const box = createSecretBox(NEW_KEY)
    const [prefix, version, id, iv, tag, data] = box.seal(SECRET).split(':')
    const flipped = `${data?.[0] === 'A' ? 'B' : 'A'}${data?.slice(1)}`
    const cases = [
      [prefix, version, id, iv, tag, flipped],
      [prefix, version, id, iv, tag?.slice(0, 6), data],
      [prefix, version, id, iv, tag],
      [prefix, version, id, iv, 'A'.repeat(22), data],
    ]
    for (const parts of cases) {
      expect(unreadable(() => box.open(parts.join(':')))).toBe('SECRET_UNREADABLE')
    }
  })

  it('opens rows sealed under WEBHOOK_SECRETS_KEY_PREVIOUS, and seals new ones under the current key', () => {
    const oldBox = createSecretBox(OLD_KEY)
    const rotated = createSecretBox(NEW_KEY, OLD_KEY)
    const oldRow = oldBox.seal(SECRET)
    expect(rotated.open(oldRow)).toBe(SECRET)
    expect(rotated.isCurrent(oldRow)).toBe(false)
    const newRow = rotated.seal(SECRET)
    expect(rotated.isCurrent(newRow)).toBe(true)
    expect(newRow.split(':')[2]).toBe(createSecretBox(NEW_KEY).keyId)
    // Once the previous key is dropped, only re-sealed rows can be read.
    expect(createSecretBox(NEW_KEY).open(newRow)).toBe(SECRET)
    expect(unreadable(() => createSecretBox(NEW_KEY).open(oldRow))).toBe('SECRET_UNREADABLE')
  })

  it('passes plaintext rows (written before a key was set) through, with or without a key', () => {
    expect(createSecretBox().open(SECRET)).toBe(SECRET)
    expect(createSecretBox(NEW_KEY).open(SECRET)).toBe(SECRET)
    expect(createSecretBox(NEW_KEY).isCurrent(SECRET)).toBe(false)
  })

  it('without a key stores secrets in the clear and says so', () => {
    const box = createSecretBox()
    expect(box.encrypts).toBe(false)
    expect(box.keyId).toBeUndefined()
    expect(box.seal(SECRET)).toBe(SECRET)
    expect(box.isCurrent(SECRET)).toBe(true)
  })

  it('never seals under the previous key, even when only the previous key is set', () => {
    const box = createSecretBox(undefined, OLD_KEY)
    expect(box.encrypts).toBe(false)
    expect(box.seal(SECRET)).toBe(SECRET)
    expect(box.open(createSecretBox(OLD_KEY).seal(SECRET))).toBe(SECRET)
  })
})
