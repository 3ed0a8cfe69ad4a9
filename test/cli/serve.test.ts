import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { disposeChildren, spawnCli } from '../reliability/child-worker.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await disposeChildren()
  await testDb?.drop()
})

describe('imtegrate-webhooks serve', () => {
  it('serves the HTTP API until SIGTERM, then exits 0', async () => {
    const server = spawnCli(['serve'], { DATABASE_URL: testDb.url, WEBHOOK_API_PORT: '0', LOG_LEVEL: 'info' })
    let url = ''
    await vi.waitFor(
      () => {
        expect(server.process.exitCode).toBeNull()
        const line = server
          .output()
          .split('\n')
          .find((l) => l.includes('"msg":"serving the API"'))
        expect(line).toBeDefined()
        url = (JSON.parse(line ?? '{}') as { url: string }).url
      },
      { timeout: 20_000, interval: 50 },
    )
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const doc = await fetch(`${url}/v1/openapi.json`)
    expect(doc.status).toBe(200)
    expect(((await doc.json()) as { openapi: string }).openapi).toBe('3.1.0')
    expect((await fetch(`${url}/v1/orgs/org_1/endpoints`)).status).toBe(401)
    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })

  it('refuses an unmigrated database in one line, exit 1', async () => {
    const name = `iwt_${process.pid}_bare_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: inject('adminUrl') })
    await admin.connect()
    try {
      await admin.query(`create database ${pg.escapeIdentifier(name)}`)
      const url = new URL(inject('adminUrl'))
      url.pathname = `/${name}`
      const server = spawnCli(['serve'], { DATABASE_URL: url.toString(), WEBHOOK_API_PORT: '0' })
      expect(await server.exited).toBe(1)
      expect(server.output().trim()).toMatch(
        /^error: the database is not migrated \(pending: .+\); run `imtegrate-webhooks migrate` first$/,
      )
    } finally {
      await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
      await admin.end()
    }
  })
})
