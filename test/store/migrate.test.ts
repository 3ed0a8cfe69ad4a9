import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { createPool } from '../../src/store/database.ts'
import { migrate, readMigrations } from '../../src/store/migrate.ts'
import { runCli } from '../helpers/cli.ts'

// An empty database (not the migrated template): migrate must build everything itself.
const name = `iwt_${process.pid}_empty_${randomBytes(4).toString('hex')}`
const url = new URL(inject('adminUrl'))
url.pathname = `/${name}`
const logger = createLogger('silent')

async function admin(query: string) {
  const client = new pg.Client({ connectionString: inject('adminUrl') })
  await client.connect()
  try {
    await client.query(query)
  } finally {
    await client.end()
  }
}

beforeAll(() => admin(`create database ${pg.escapeIdentifier(name)}`))
afterAll(() => admin(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`))

describe('migrate', () => {
  it('applies every migration once when two processes run it at the same time', async () => {
    const pools = [createPool(url.toString(), 2), createPool(url.toString(), 2)]
    try {
      const [a, b] = await Promise.all(pools.map((pool) => migrate(pool, logger)))
      const all = (await readMigrations()).map((m) => m.name)
      expect([...(a ?? []), ...(b ?? [])].sort()).toEqual(all)
      const { rows } = await (pools[0] as pg.Pool).query<{ n: number }>(
        "select count(*)::int as n from information_schema.schemata where schema_name in ('webhooks', 'graphile_worker')",
      )
      expect(rows[0]?.n).toBe(2)
    } finally {
      await Promise.all(pools.map((pool) => pool.end()))
    }
  })

  it('does nothing when run again', async () => {
    const result = await runCli({ url: url.toString() }, ['migrate', '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.out)).toEqual({ applied: [] })
  })

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const pool = createPool(url.toString(), 2)
    try {
      await pool.query("update webhooks.migrations set checksum = 'edited' where id = 1")
      await expect(migrate(pool, logger)).rejects.toThrow(/0001_outbox\.sql was edited after it was applied/)
    } finally {
      await pool.end()
    }
  })
})
