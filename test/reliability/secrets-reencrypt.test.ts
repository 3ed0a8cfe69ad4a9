import { createHmac, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateSecret } from '../../src/delivery/sign.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import type { CliResult } from '../helpers/cli.ts'
import { runCli } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { startTestWorker } from '../helpers/worker.ts'
import { recordCompleted } from './fixtures.ts'

const OLD_KEY = randomBytes(32).toString('base64')
const NEW_KEY = randomBytes(32).toString('base64')
const LOST_KEY = randomBytes(32).toString('base64')
const ROTATING = { WEBHOOK_SECRETS_KEY: NEW_KEY, WEBHOOK_SECRETS_KEY_PREVIOUS: OLD_KEY }

let testDb: TestDb
let receiver: Receiver
const plain: Record<string, { secret: string; previous: string | null }> = {}

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  const oldBox = createSecretBox(OLD_KEY)
  const newBox = createSecretBox(NEW_KEY)
  const rows = [
    // org_1 signs the end-to-end delivery below; its secrets were sealed under the old key.
    { org_id: 'org_1', seal: oldBox, previous: generateSecret() },
    { org_id: 'org_clear', seal: createSecretBox(), previous: null },
    { org_id: 'org_current', seal: newBox, previous: null },
  ]
  for (const row of rows) {
    const secret = generateSecret()
    plain[row.org_id] = { secret, previous: row.previous }
    await testDb.db
      .insertInto('webhooks.org_secrets')
      .values({
        org_id: row.org_id,
        secret: row.seal.seal(secret),
        previous_secret: row.previous === null ? null : row.seal.seal(row.previous),
        previous_expires_at: row.previous === null ? null : new Date(Date.now() + 3_600_000),
      })
      .execute()
  }
  const endpoints = [
    { id: 'ep_old', seal: oldBox, deleted_at: null },
    { id: 'ep_deleted', seal: oldBox, deleted_at: new Date() },
  ]
  for (const ep of endpoints) {
    const secret = generateSecret()
    plain[ep.id] = { secret, previous: null }
    await testDb.db
      .insertInto('webhooks.endpoints')
      .values({
        id: ep.id,
        org_id: 'org_other',
        url: 'https://example.com/hook',
        secret: ep.seal.seal(secret),
        deleted_at: ep.deleted_at,
      })
      .execute()
  }
})

afterAll(async () => {
  await receiver?.close()
  await testDb?.drop()
})

async function storedSecrets() {
  const orgs = await testDb.db
    .selectFrom('webhooks.org_secrets')
    .select(['org_id as id', 'secret', 'previous_secret'])
    .execute()
  const endpoints = await testDb.db
    .selectFrom('webhooks.endpoints')
    .select(['id', 'secret', 'previous_secret'])
    .execute()
  return [...orgs, ...endpoints].sort((a, b) => a.id.localeCompare(b.id))
}

function json(result: CliResult) {
  expect(result.err).toBe('')
  expect(result.code).toBe(0)
  return JSON.parse(result.out)
}

describe('secrets reencrypt', () => {
  it('refuses to run without WEBHOOK_SECRETS_KEY', async () => {
    const result = await runCli(testDb, ['secrets', 'reencrypt'])
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/WEBHOOK_SECRETS_KEY is not set/)
  })

  it('re-seals every secret, current and previous, clear or under the old key, under the new key', async () => {
    const report = json(await runCli(testDb, ['secrets', 'reencrypt', '--json'], ROTATING))
    expect(report).toEqual({
      key_id: createSecretBox(NEW_KEY).keyId,
      org_secrets: { rows: 3, resealed: 3, unreadable: [] },
      endpoints: { rows: 2, resealed: 2, unreadable: [] },
    })
    const onlyNew = createSecretBox(NEW_KEY)
    for (const row of await storedSecrets()) {
      expect(onlyNew.isCurrent(row.secret)).toBe(true)
      expect(onlyNew.open(row.secret)).toBe(plain[row.id]?.secret)
      expect(row.previous_secret === null ? null : onlyNew.open(row.previous_secret)).toBe(
        plain[row.id]?.previous,
      )
    }
  })

  it('is idempotent: a second run changes nothing', async () => {
    const before = await storedSecrets()
    const report = json(
      await runCli(testDb, ['secrets', 'reencrypt', '--json'], { WEBHOOK_SECRETS_KEY: NEW_KEY }),
    )
    expect([report.org_secrets.resealed, report.endpoints.resealed]).toEqual([0, 0])
    expect(await storedSecrets()).toEqual(before)
  })

  it('leaves rows no configured key opens as they are, re-seals the rest, and exits 1 naming them', async () => {
    await testDb.db
      .insertInto('webhooks.org_secrets')
      .values([
        { org_id: 'org_lost', secret: createSecretBox(LOST_KEY).seal(generateSecret()) },
        { org_id: 'org_late', secret: createSecretBox(OLD_KEY).seal('whsec_late') },
      ])
      .execute()
    const result = await runCli(testDb, ['secrets', 'reencrypt'], ROTATING)
    expect(result.code).toBe(1)
    expect(result.out).toContain(
      `org_secrets: 5 rows, 1 secrets re-sealed under key ${createSecretBox(NEW_KEY).keyId}`,
    )
    expect(result.err).toMatch(/1 rows hold secrets no configured key opens .*: org_lost$/)
    const late = await testDb.db
      .selectFrom('webhooks.org_secrets')
      .select('secret')
      .where('org_id', '=', 'org_late')
      .executeTakeFirstOrThrow()
    expect(createSecretBox(NEW_KEY).open(late.secret)).toBe('whsec_late')
  })

  it('leaves a worker holding only the new key signing with the same secrets', async () => {
    const worker = await startTestWorker(testDb, { WEBHOOK_SECRETS_KEY: NEW_KEY })
    try {
      await recordCompleted(testDb, receiver.url('/after-rotation'))
      await vi.waitFor(() => expect(receiver.requests).toHaveLength(1), { timeout: 10_000 })
    } finally {
      await worker.stop()
    }
    const [request] = receiver.requests
    const expected = createHmac('sha256', plain['org_1']?.secret ?? '')
      .update(request?.body ?? '')
      .digest('hex')
    expect(request?.headers['x-imtegrate-signature']).toBe(expected)
  })
})
