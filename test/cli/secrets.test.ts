import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSecretBox } from '../../src/secret-box.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await testDb?.drop()
})

const stored = (orgId: string) =>
  testDb.db.selectFrom('webhooks.org_secrets').selectAll().where('org_id', '=', orgId).executeTakeFirst()

describe('secrets create', () => {
  it('prints a new whsec_ secret once, and says it will not be shown again', async () => {
    const result = await runCli(testDb, ['secrets', 'create', '--org', 'org_text'])
    expect(result.code).toBe(0)
    const secret = /^secret: (whsec_\S+)$/m.exec(result.out)?.[1]
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(result.err).toMatch(/shown only this once/)
    expect((await stored('org_text'))?.secret).toBe(secret)
  })

  it('stores the secret sealed when WEBHOOK_SECRETS_KEY is set', async () => {
    const key = Buffer.alloc(32, 3).toString('base64')
    const { secret } = await runCliJson<{ org_id: string; secret: string }>(
      testDb,
      ['secrets', 'create', '--org', 'org_sealed'],
      { WEBHOOK_SECRETS_KEY: key },
    )
    const row = await stored('org_sealed')
    expect(row?.secret).toMatch(/^enc:v1:/)
    expect(createSecretBox(key).open(row?.secret as string)).toBe(secret)
  })

  it('refuses a second secret for the same org (exit 1) and points to rotate', async () => {
    const result = await runCli(testDb, ['secrets', 'create', '--org', 'org_text'])
    expect(result).toMatchObject({ code: 1, out: '' })
    expect(result.err).toMatch(/already has a secret; use `secrets rotate --org org_text`/)
  })
})

describe('secrets rotate', () => {
  it('replaces the secret and keeps the old one for the grace period', async () => {
    const before = await stored('org_text')
    const { secret } = await runCliJson<{ secret: string }>(testDb, [
      'secrets',
      'rotate',
      '--org',
      'org_text',
    ])
    const after = await stored('org_text')
    expect(after?.secret).toBe(secret)
    expect(after?.previous_secret).toBe(before?.secret)
    const graceMs = (after?.previous_expires_at?.getTime() ?? 0) - Date.now()
    expect(graceMs).toBeGreaterThan(23 * 3_600_000)
    expect(graceMs).toBeLessThanOrEqual(24 * 3_600_000)
  })

  it('with no grace keeps no old secret (after a lost key it could not be read)', async () => {
    // Regression: the old secret stayed stored with an expiry of now, and after a lost key
    // \`secrets reencrypt\` failed on it for ever.
    expect((await runCli(testDb, ['secrets', 'create', '--org', 'org_nograce'])).code).toBe(0)
    const rotated = await runCli(testDb, ['secrets', 'rotate', '--org', 'org_nograce'], {
      WEBHOOK_SECRET_ROTATION_GRACE: '0s',
    })
    expect(rotated.code).toBe(0)
    expect(await stored('org_nograce')).toMatchObject({ previous_secret: null, previous_expires_at: null })
  })

  it('refuses an org without a secret (exit 1)', async () => {
    const result = await runCli(testDb, ['secrets', 'rotate', '--org', 'org_none'])
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/has no secret yet; use `secrets create --org org_none`/)
  })
})

describe('bad arguments', () => {
  it.each([
    [['secrets', 'create']],
    [['secrets', 'create', '--org']],
    [['secrets', 'destroy', '--org', 'org_1']],
    [['secrets', '--org', 'org_1']],
    [['secrets', 'create', '--org', 'org_1', '--colour', 'red']],
  ])('%j prints the usage and exits 2', async (argv) => {
    const result = await runCli(testDb, argv)
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/usage: imtegrate-webhooks secrets <create\|rotate>/)
  })
  // Regression: these were stored, for orgs that can never record an event.
  it.each([['bad org!'], ['x'.repeat(201)], ['org\tone']])(
    'refuses org id %j (exit 2) and stores nothing',
    async (org) => {
      const result = await runCli(testDb, ['secrets', 'create', '--org', org])
      expect(result.code).toBe(2)
      expect(result.err).toMatch(/^error: org_id (may contain only|is \d+ characters long)/m)
      expect(await stored(org)).toBeUndefined()
    },
  )

  it.each([[['secrets']], [['secrets', 'bogus']]])('%j names the missing or unknown action', async (argv) => {
    const result = await runCli(testDb, argv)
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/missing action|unknown action: bogus/)
  })
})
