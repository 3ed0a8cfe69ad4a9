import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import pg from 'pg'
import { describe, expect, inject, it } from 'vitest'
import { errorText } from '../../src/errors.ts'
import { runCli } from '../helpers/cli.ts'

/** The test server, with a database name that does not exist on it. */
function missingDatabaseUrl(): string {
  const url = new URL(inject('adminUrl'))
  url.pathname = '/iw_missing_db'
  return url.toString()
}

describe('imtegrate-webhooks', () => {
  it('with no command prints the usage on stderr and exits 2', async () => {
    // Regression: the usage went to stdout, where a script reads results.
    const result = await runCli({ url: 'postgres://unused' }, [])
    expect(result).toMatchObject({ code: 2, out: '' })
    expect(result.err).toMatch(/^imtegrate-webhooks <command> \[options\]/)
  })

  it('with --help prints the usage on stdout and exits 0', async () => {
    const result = await runCli({ url: 'postgres://unused' }, ['--help'])
    expect(result).toMatchObject({ code: 0, err: '' })
    expect(result.out).toMatch(/^imtegrate-webhooks <command> \[options\]/)
  })

  // Regression: each ended in an uncaught pg error and its stack trace.
  it.each([
    [
      'no server listening',
      'postgres://postgres@127.0.0.1:1/none',
      /^error: cannot use the database: .*ECONNREFUSED 127\.0\.0\.1:1/,
    ],
    // localhost may resolve to ::1 and 127.0.0.1: each refusal is named, not an empty aggregate.
    [
      'no server at any address of a name',
      'postgres://postgres@localhost:1/none',
      /^error: cannot use the database: .*ECONNREFUSED .*127\.0\.0\.1:1/,
    ],
    [
      'a database that does not exist',
      missingDatabaseUrl(),
      /^error: cannot use the database: database "iw_missing_db" does not exist \(3D000\)$/,
    ],
    [
      'TLS the server does not offer',
      `${missingDatabaseUrl()}?sslmode=verify-full`,
      /^error: cannot use the database: The server does not support SSL connections$/,
    ],
  ])('says in one line when the database cannot be used: %s', async (_, url, message) => {
    const result = await runCli({ url }, ['endpoints', 'list'])
    expect(result).toMatchObject({ code: 1, out: '' })
    expect(result.err).toMatch(message)
    expect(result.err.split('\n')).toHaveLength(1)
  })

  it('says in one line, with what to do, when the database is not migrated', async () => {
    // Regression: a narrower rule for one-line errors let 42P01 through as a stack trace.
    const admin = new pg.Client({ connectionString: inject('adminUrl') })
    await admin.connect()
    const name = `iw_bare_${process.pid}`
    await admin.query(`create database ${name}`)
    try {
      const url = new URL(inject('adminUrl'))
      url.pathname = `/${name}`
      const result = await runCli({ url: url.toString() }, ['endpoints', 'list'])
      expect(result).toMatchObject({ code: 1, out: '' })
      expect(result.err).toBe(
        'error: relation "webhooks.endpoints" does not exist (42P01) (is the database migrated? run `imtegrate-webhooks migrate`)',
      )
    } finally {
      await admin.query(`drop database ${name}`)
      await admin.end()
    }
  })

  it('says in one line when the server closes the connection at once', async () => {
    const server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const result = await runCli({ url: `postgres://postgres@127.0.0.1:${port}/none` }, ['migrate'])
      expect(result).toMatchObject({ code: 1, out: '' })
      expect(result.err).toMatch(/^error: cannot use the database: Connection terminated unexpectedly$/)
    } finally {
      server.close()
    }
  })

  it('says what is wrong with the configuration in one line per bad variable', async () => {
    // Regression: a heading line, then the variable on a second line.
    const result = await runCli({ url: 'postgres://unused' }, ['endpoints', 'list'], {
      WORKER_CONCURRENCY: '1e21',
      WEBHOOK_RETRY_SCHEDULE: '999999999999d',
    })
    expect(result).toMatchObject({ code: 1, out: '' })
    expect(result.err.split('\n')).toEqual([
      'error: invalid WEBHOOK_RETRY_SCHEDULE: has a step longer than 7d: "999999999999d"',
      'error: invalid WORKER_CONCURRENCY: must be a whole number from 1 to 2000, got "1e21"',
    ])
  })

  it('names each refusal of an aggregate error, whose own message is empty', () => {
    // What Node raises when a name resolves to ::1 and 127.0.0.1 and both refuse.
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' })
    const aggregate = Object.assign(new AggregateError([refused('::1:1'), refused('127.0.0.1:1')], ''), {
      code: 'ECONNREFUSED',
    })
    expect(errorText(aggregate)).toBe('connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127.0.0.1:1')
    expect(errorText(Object.assign(new Error(''), { code: 'EPIPE' }))).toBe('EPIPE')
    expect(errorText(Object.assign(new Error('database "x" does not exist'), { code: '3D000' }))).toBe(
      'database "x" does not exist (3D000)',
    )
  })
})
