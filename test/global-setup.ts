import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { dropDeadRunDatabases } from '../scripts/shared/run-databases.ts'
import { choosePostgres, machineFacts, startTestPostgres } from '../scripts/shared/test-postgres.ts'
import { createLogger } from '../src/logger.ts'
import { createPool } from '../src/store/database.ts'
import { migrate } from '../src/store/migrate.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string
    templateDb: string
  }
}

export default async function setup(project: TestProject) {
  // TEST_DATABASE_URL, else 127.0.0.1:5432, else an embedded PostgreSQL: see test-postgres.ts.
  const server = await startTestPostgres(await choosePostgres(process.env, machineFacts))
  process.stderr.write(`tests use ${server.description}\n`)
  const adminUrl = server.url
  const admin = new pg.Client({ connectionString: adminUrl })
  try {
    await admin.connect()
  } catch (error) {
    await server.stop()
    throw error
  }
  // Test databases are iwt_<pid>_<random>: leftovers of runs whose process died are dropped.
  await dropDeadRunDatabases(admin, 'iwt')
  const templateDb = `iwt_${process.pid}_template_${randomBytes(4).toString('hex')}`
  await admin.query(`create database ${pg.escapeIdentifier(templateDb)}`)

  const url = new URL(adminUrl)
  url.pathname = `/${templateDb}`
  const pool = createPool(url.toString(), 2)
  await migrate(pool, createLogger('warn'))
  await pool.end()
  await admin.query(`alter database ${pg.escapeIdentifier(templateDb)} is_template true`)

  project.provide('adminUrl', adminUrl)
  project.provide('templateDb', templateDb)

  return async () => {
    await admin.query(`alter database ${pg.escapeIdentifier(templateDb)} is_template false`)
    await admin.query(`drop database if exists ${pg.escapeIdentifier(templateDb)} with (force)`)
    await admin.end()
    await server.stop()
  }
}
