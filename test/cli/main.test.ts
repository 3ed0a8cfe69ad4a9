import { describe, expect, inject, it } from 'vitest'
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
    ['no server listening', 'postgres://postgres@127.0.0.1:1/none', /^error: .*\(ECONNREFUSED\)$/],
    [
      'a database that does not exist',
      missingDatabaseUrl(),
      /^error: database "iw_missing_db" does not exist \(3D000\)$/,
    ],
  ])('says in one line when the database cannot be used: %s', async (_, url, message) => {
    const result = await runCli({ url }, ['endpoints', 'list'])
    expect(result).toMatchObject({ code: 1, out: '' })
    expect(result.err).toMatch(message)
    expect(result.err.split('\n')).toHaveLength(1)
  })
})
