// npm run schema
//
// Rewrites docs/schema.sql: the schema `webhooks` of a freshly migrated database, as
// `pg_dump --schema-only` prints it, normalised (scripts/shared/schema-dump.ts). Run it after
// adding a migration; test/docs/schema.test.ts fails while the file is stale. It uses the
// PostgreSQL the tests use (TEST_DATABASE_URL, 127.0.0.1:5432, else an embedded one), and a
// pg_dump at least as new as that server.
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { errorText } from '../src/errors.ts'
import { createLogger } from '../src/logger.ts'
import { createPool } from '../src/store/database.ts'
import { migrate } from '../src/store/migrate.ts'
import { dumpSchema, findPgDump, SCHEMA_FILE, serverMajor } from './shared/schema-dump.ts'
import { choosePostgres, machineFacts, startTestPostgres } from './shared/test-postgres.ts'

async function main(): Promise<void> {
  const server = await startTestPostgres(await choosePostgres(process.env, machineFacts))
  const name = `iws_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: server.url })
  try {
    const pgDump = await findPgDump(await serverMajor(server.url))
    if ('reason' in pgDump) {
      throw new Error(pgDump.reason)
    }
    await admin.connect()
    await admin.query(`create database ${pg.escapeIdentifier(name)}`)
    const url = new URL(server.url)
    url.pathname = `/${name}`
    const pool = createPool(url.toString(), 2)
    try {
      await migrate(pool, createLogger('warn'))
    } finally {
      await pool.end()
    }
    await writeFile(SCHEMA_FILE, await dumpSchema(url.toString(), pgDump.path))
    console.log(`wrote ${fileURLToPath(SCHEMA_FILE)} (pg_dump ${pgDump.major}, ${server.description})`)
  } finally {
    await admin
      .query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
      .catch(() => undefined)
    await admin.end().catch(() => undefined)
    await server.stop()
  }
}

try {
  await main()
} catch (error) {
  console.error(`error: ${errorText(error)}`)
  process.exitCode = 1
}
