import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { inject } from 'vitest'
import type { Db } from '../../src/store/database.ts'
import { createDb, createPool } from '../../src/store/database.ts'

export type TestDb = { url: string; pool: pg.Pool; db: Db; drop(): Promise<void> }

/**
 * A fresh database cloned from the migrated template (`empty`: from template0, with nothing
 * installed); drop() removes it.
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDb> {
  const adminUrl = inject('adminUrl')
  const name = `iwt_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(
      `create database ${pg.escapeIdentifier(name)} template ${pg.escapeIdentifier(options.empty === true ? 'template0' : inject('templateDb'))}`,
    )
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  // Named apart from the worker's connections, which some tests cut on purpose.
  const pool = createPool(url.toString(), 8, undefined, 'imtegrate-webhooks-test')
  const db = createDb(pool)
  return {
    url: url.toString(),
    pool,
    db,
    async drop() {
      await db.destroy()
      const dropper = new pg.Client({ connectionString: adminUrl })
      await dropper.connect()
      await dropper.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
      await dropper.end()
    },
  }
}

/** A fresh database holding one event of org_1, already fanned out: deliveries are made by hand. */
export async function createDatabaseWithEvent(eventId: string): Promise<TestDb> {
  const testDb = await createTestDatabase()
  await testDb.pool.query(
    `insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
     values ($1, 'org_1', 'image.completed', 'img_1', '{}', now(), now())`,
    [eventId],
  )
  return testDb
}
