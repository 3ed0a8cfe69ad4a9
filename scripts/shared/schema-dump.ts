import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

/** Where the schema is kept whole, and the command that rewrites it. */
export const SCHEMA_FILE = new URL('../../docs/schema.sql', import.meta.url)
export const SCHEMA_COMMAND = 'npm run schema'

const HEADER = `-- The schema \`webhooks\` as the migrations leave it, for reading in one place (graphile-worker's
-- own schema, graphile_worker, is not shown). Generated from a freshly migrated database by
-- \`${SCHEMA_COMMAND}\` (pg_dump --schema-only, normalised); a test fails when it is stale.
-- Do not edit: change the schema with a new migration, then run \`${SCHEMA_COMMAND}\`.
`

/** A pg_dump that can dump the server, or why there is none. */
export type PgDump = { path: string; major: number } | { reason: string }

/**
 * The first pg_dump found (on PATH, then Debian's /usr/lib/postgresql/N/bin, newest first) that
 * is at least as new as the server: pg_dump refuses servers newer than itself. The embedded
 * PostgreSQL package ships no pg_dump.
 */
export async function findPgDump(serverMajor: number): Promise<PgDump> {
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => `/usr/lib/postgresql/${version}/bin/pg_dump`)
    : []
  const seen: string[] = []
  for (const path of ['pg_dump', ...debian]) {
    const major = await pgDumpMajor(path)
    if (major === undefined) {
      continue
    }
    if (major >= serverMajor) {
      return { path, major }
    }
    seen.push(`${path} is ${major}`)
  }
  return {
    reason: `no pg_dump ${serverMajor} or newer to dump the PostgreSQL ${serverMajor} server (${
      seen.length > 0 ? seen.join(', ') : 'no pg_dump found'
    }): install one, or point TEST_DATABASE_URL at a server no newer than your pg_dump`,
  }
}

async function pgDumpMajor(path: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(path, ['--version'])
    const match = /\(PostgreSQL\) (\d+)/.exec(stdout)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** The major version of the server at `url`. */
export async function serverMajor(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ v: string }>(`select current_setting('server_version_num') as v`)
    return Math.floor(Number(rows[0]?.v) / 10_000)
  } finally {
    await client.end()
  }
}

/** `pg_dump --schema-only` of schema `webhooks` in the database at `url`, normalised. */
export async function dumpSchema(url: string, pgDump: string): Promise<string> {
  const { stdout } = await run(
    pgDump,
    ['--schema-only', '--no-owner', '--no-privileges', '--schema=webhooks', `--dbname=${url}`],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  return normaliseDump(stdout)
}

/**
 * What does not depend on the versions or the run: pg_dump's comments (which name versions),
 * session settings, the random \restrict key of newer pg_dumps; runs of blank lines become one.
 */
export function normaliseDump(dump: string): string {
  const kept = dump
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(
      (line) =>
        !line.startsWith('--') &&
        !/^SET \w+ = /.test(line) &&
        !line.startsWith('SELECT pg_catalog.set_config(') &&
        !/^\\(un)?restrict\b/.test(line),
    )
  const text = kept
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
  return `${HEADER}\n${text}\n`
}
