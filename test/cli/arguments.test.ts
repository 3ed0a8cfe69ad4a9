import { describe, expect, it } from 'vitest'
import { runCli, runCliJson } from '../helpers/cli.ts'
import { useSeededHistory } from '../helpers/history-seed.ts'

// Findings of an adversarial pass over the command line, each a regression test.

const history = useSeededHistory()

const cli = (...argv: string[]) => runCli(history.testDb, argv)
const secretOf = (org: string) =>
  history.testDb.db
    .selectFrom('webhooks.org_secrets')
    .select('org_id')
    .where('org_id', '=', org)
    .executeTakeFirst()

describe('an option given twice', () => {
  // Regression: the last one won, and the secret was made for org_r2.
  it('is a usage error (exit 2), and nothing is done', async () => {
    const result = await cli('secrets', 'create', '--org', 'org_r1', '--org', 'org_r2')
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/^error: --org is given twice; give it once$/m)
    expect(await secretOf('org_r1')).toBeUndefined()
    expect(await secretOf('org_r2')).toBeUndefined()
  })

  it.each([
    [['deliveries', 'list', '--json', '--json']],
    [['deliveries', 'list', '--limit', '5', '--limit=6']],
    [['endpoints', 'list', '-h', '--help']],
  ])('%j exits 2', async (argv) => {
    expect((await cli(...argv)).code).toBe(2)
  })
})

describe('a listing that would be empty for a wrong id', () => {
  // Regression: an endpoint of another org listed nothing, as if it had no deliveries.
  it("refuses another org's endpoint as unknown (exit 1)", async () => {
    expect(await cli('deliveries', 'list', '--org', 'org_2', '--endpoint', 'ep_1')).toEqual({
      code: 1,
      out: '',
      err: 'error: no endpoint ep_1',
    })
    // Its own org's deleted endpoint still has its history listed.
    const own = await cli('deliveries', 'list', '--org', 'org_1', '--endpoint', 'ep_3')
    expect(own.code).toBe(0)
  })

  // Regression: an unknown or empty org printed an empty table.
  it('refuses an unknown org (exit 1) and an empty one (usage, exit 2)', async () => {
    expect(await cli('endpoints', 'list', '--org', 'org_nobody')).toEqual({
      code: 1,
      out: '',
      err: 'error: no org org_nobody: it has no events, endpoints or secret',
    })
    for (const argv of [
      ['endpoints', 'list', '--org', ''],
      ['endpoints', 'list', '--org='],
      ['deliveries', 'list', '--org', ''],
    ]) {
      const result = await cli(...argv)
      expect(result.code).toBe(2)
      expect(result.err).toMatch(/^error: --org is empty: give a value, or leave the option out$/m)
    }
  })
})

describe('an id echoed in an error message', () => {
  const hostile = `ep_\u001b]0;pwned\u0007${'x'.repeat(100_000)}`

  // Regression: the escape sequence reached the terminal raw, and the id was printed whole.
  it.each([
    [['endpoints', 'disable', hostile]],
    [['endpoints', 'rotate-secret', hostile]],
    [['deliveries', 'show', hostile]],
    [['deliveries', 'list', '--endpoint', hostile]],
    [['endpoints', 'list', '--org', hostile]],
    [['replay', '--delivery', hostile]],
    [['replay', '--event', hostile]],
    [['replay', '--endpoint', hostile, '--status', 'dropped']],
    [['replay', '--org', 'org_1', '--status', hostile]],
    [['deliveries', 'list', '--since', hostile]],
    [['endpoints', hostile]],
    [[hostile]],
    [['deliveries', 'list', `--${hostile}`]],
  ])('is escaped and cut: %#', async (argv) => {
    const result = await cli(...argv)
    expect([1, 2]).toContain(result.code)
    const [first] = result.err.split('\n')
    expect(first).toContain('ep_\\x1b]0;pwned\\x07xxx')
    expect(first?.length).toBeLessThan(300)
    expect(result.err.replaceAll('\n', '')).not.toMatch(/\p{Cc}/u)
  })
})

describe('an option value that looks like an option', () => {
  // Regression: `--reason -h` printed the usage instead of disabling with the reason "-h".
  it('is the value, not a request for help', async () => {
    const ep = await runCliJson<{ id: string }>(history.testDb, [
      'endpoints',
      'create',
      '--org',
      'org_args',
      '--url',
      'https://example.com/hook',
    ])
    const result = await cli('endpoints', 'disable', ep.id, '--reason', '-h')
    expect(result).toMatchObject({ code: 0, out: `disabled ${ep.id}; dropped 0 pending deliveries` })
    const row = await history.testDb.db
      .selectFrom('webhooks.endpoints')
      .select('disabled_reason')
      .where('id', '=', ep.id)
      .executeTakeFirstOrThrow()
    expect(row.disabled_reason).toBe('-h')
    // -h as an option still asks for help, after the command or after an action's arguments.
    for (const argv of [
      ['endpoints', '-h'],
      ['endpoints', 'disable', ep.id, '-h'],
      ['deliveries', 'list', '--help'],
    ]) {
      const help = await cli(...argv)
      expect(help.code).toBe(0)
      expect(help.out).toMatch(/^imtegrate-webhooks /)
    }
  })

  it('is refused by the option it was given to, when it is not one of its values', async () => {
    const result = await cli('deliveries', 'list', '--since', '-h')
    expect(result.code).toBe(2)
    expect(result.err).toContain('--since must be an ISO timestamp')
  })
})
