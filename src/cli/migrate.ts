import { loadConfig } from '../config.ts'
import { embeddedUrlIfPresent } from '../dev/embedded-postgres.ts'
import { createLogger } from '../logger.ts'
import { createPool } from '../store/database.ts'
import { migrate } from '../store/migrate.ts'
import { reachDatabase } from './context.ts'
import type { Command } from './io.ts'
import { CommandError, parse, printJson } from './io.ts'

export const migrateCommand: Command = {
  usage: `imtegrate-webhooks migrate [--json]

Installs graphile-worker's schema and applies migrations/*.sql. Safe to run twice, and from
several processes at once.`,
  async run(args, io) {
    const { values } = parse(args, { json: { type: 'boolean' } })
    const config = loadConfig(io.env)
    const url = config.databaseUrl ?? embeddedUrlIfPresent()
    if (url === undefined) {
      throw new CommandError('DATABASE_URL is not set')
    }
    const pool = createPool(url, 2)
    await reachDatabase(pool)
    try {
      const applied = await migrate(pool, createLogger(config.logLevel, process.stderr))
      if (values.json) {
        printJson(io, { applied })
      } else {
        io.out(applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`)
      }
    } finally {
      await pool.end()
    }
  },
}
