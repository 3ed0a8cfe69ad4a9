import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { PgDump } from '../../scripts/shared/schema-dump.ts'
import {
  dumpSchema,
  findPgDump,
  normaliseDump,
  SCHEMA_COMMAND,
  SCHEMA_FILE,
  serverMajor,
} from '../../scripts/shared/schema-dump.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

// docs/schema.sql is the schema whole, for reading; it must be what the migrations make.
// pg_dump refuses servers newer than itself, and the embedded PostgreSQL brings none: with no
// pg_dump new enough, the comparison is skipped and says why.
const pgDump: PgDump = await findPgDump(await serverMajor(inject('adminUrl')))

describe('docs/schema.sql', () => {
  let testDb: TestDb
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(async () => {
    await testDb?.drop()
  })

  it.skipIf('reason' in pgDump)(
    `is what a fresh migrate makes (else run \`${SCHEMA_COMMAND}\`)${'reason' in pgDump ? ` (skipped: ${pgDump.reason})` : ''}`,
    async () => {
      const current = await dumpSchema(testDb.url, (pgDump as { path: string }).path)
      const kept = await readFile(SCHEMA_FILE, 'utf8')
      expect(kept, `docs/schema.sql is stale: run \`${SCHEMA_COMMAND}\``).toBe(current)
    },
  )

  it('holds every function and view the migrations define', async () => {
    const kept = await readFile(SCHEMA_FILE, 'utf8')
    const { rows } = await testDb.pool.query<{ name: string }>(
      `select p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'webhooks'
       union select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'webhooks' and c.relkind in ('r', 'v')`,
    )
    expect(rows.length).toBeGreaterThan(10)
    for (const { name } of rows) {
      expect(kept).toMatch(new RegExp(`\\bwebhooks\\.${name}\\b`))
    }
  })

  it('normalises away what depends on versions and the run', () => {
    const dump = [
      '--',
      '-- Dumped from database version 15.20',
      '--',
      '',
      '\\restrict abc123',
      'SET statement_timeout = 0;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      '',
      '',
      '',
      'CREATE SCHEMA webhooks;   ',
      '\\unrestrict abc123',
      '',
    ].join('\n')
    expect(normaliseDump(dump)).toMatch(/^-- The schema `webhooks`[\s\S]*\n\nCREATE SCHEMA webhooks;\n$/)
    expect(normaliseDump(dump)).not.toMatch(/restrict|SET |set_config|15\.20/)
  })
})
