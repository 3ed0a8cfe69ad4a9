import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { asSqlError } from './sql-calls.ts'

// The SQL check of destination URLs (webhooks.check_url, and url_ok in the quick check) must
// never accept a URL the worker's parser (WHATWG URL, as in Node) refuses: such a URL was
// recorded, or registered as an endpoint, and every delivery to it was dropped unsent.

let testDb: TestDb
// One connection for every call: pg's pool destroys a client whose query failed, and a new
// backend per refused URL made the property test wait on thousands of connection start-ups.
let client: pg.PoolClient

beforeAll(async () => {
  testDb = await createTestDatabase()
  client = await testDb.pool.connect()
})

afterAll(async () => {
  client?.release()
  await testDb?.drop()
})

/** What check_url says of `url`: undefined when it accepts it, else the error message. */
async function refusal(url: string): Promise<string | undefined> {
  return client.query(`select webhooks.check_url('webhook_url', $1)`, [url]).then(
    () => undefined,
    (error: unknown) => {
      const { code, message } = asSqlError(error)
      expect(code).toBe('22023')
      return message
    },
  )
}

const workerCanUse = (url: string) => {
  if (!URL.canParse(url)) {
    return false
  }
  const parsed = new URL(url)
  return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== ''
}

describe('destination URL check', () => {
  // Regression: each was accepted, then dropped at its first attempt as invalid_url.
  it.each([
    'http://[',
    'http://[1::2::3]/',
    'http://[1.2.3.4]/',
    'http://[fe80::1%25eth0]/',
    // Regression: PostgreSQL's inet takes an IPv4 tail of fewer than four numbers; URL does not.
    'http://[::1.2.3]/',
    'http://[::1.2]/',
    'http://[::.7]/',
    'http://[2001:db8::1..2]/',
    'http://[::01.2.3.4]/',
    'http://[::1.2.3.256]/',
    'http://:80/',
    'http://exa%mple.com/',
    'http://%65xample.com/',
    'http://a:b:c/',
    'http://x.example:99999/',
    'http://x.example:65536/',
    'http://999.1.1.1/',
    'http://1.2.3.4.5/',
    'http://example.123/',
    'http://0x7g.example.0x1/',
    'http://a<b.example/',
    'http://a^b.example/',
    'http://a|b.example/',
    'http://a\\b.example/',
    'http://bücher.example/',
  ])('refuses %s, naming the host and port', async (url) => {
    expect(await refusal(url)).toMatch(/^webhook_url (has no valid host and port|must be an absolute)/)
  })

  it.each([
    'http://a.example',
    'https://hooks.example.com:8443/in?x=1',
    'http://x.example:65535/',
    'http://x.example:/',
    'http://1.2.3.4/',
    'http://255.255.255.255:80/x',
    'http://[::1]:8080/x',
    'http://[2001:db8::1]/',
    'http://[::ffff:1.2.3.4]/',
    'http://[1:2:3:4:5:6:1.2.3.4]/',
    'http://[::ffff:255.255.255.255]:443/',
    'http://xn--bcher-kva.example/',
    'http://under_score.example/',
    'http://localhost/',
  ])('accepts %s', async (url) => {
    expect(await refusal(url)).toBeUndefined()
    expect(workerCanUse(url)).toBe(true)
  })

  it('can be used in a query that runs in parallel workers', async () => {
    // Regression: ipv6_literal_ok was marked parallel safe, but its exception block opens a
    // subtransaction, which a parallel worker refuses ("cannot start subtransactions").
    const client = await testDb.pool.connect()
    try {
      const { rows } = await client.query<{ v: number }>(
        `select current_setting('server_version_num')::int as v`,
      )
      const setting = (rows[0]?.v ?? 0) >= 160_000 ? 'debug_parallel_query' : 'force_parallel_mode'
      await client.query('begin')
      await client.query(`set local ${setting} = on`)
      const answer = await client.query<{ ok: boolean }>(
        `select webhooks.url_ok(u) as ok from (values ('http://[::1]/'), ('http://[::1.2]/')) v(u)`,
      )
      expect(answer.rows).toEqual([{ ok: true }, { ok: false }])
    } finally {
      await client.query('rollback')
      client.release()
    }
  })

  it('accepts only URLs the worker can parse, and every ordinary web URL', async () => {
    const authority = fc.stringMatching(/^[\x21-\x7e]{0,12}$/)
    const hostile = fc
      .tuple(fc.constantFrom('http://', 'https://'), authority, fc.constantFrom('', '/', '/p?q=1', ':80/'))
      .map(([scheme, host, rest]) => `${scheme}${host}${rest}`)
    const ordinary = fc.webUrl({ withQueryParameters: true, validSchemes: ['http', 'https'] })
    // IPv6 literals, well formed or nearly: fc.ipV6() and strings of the same characters.
    const bracketed = fc
      .oneof(
        fc.ipV6(),
        fc.stringMatching(/^[0-9a-f:.]{1,24}$/),
        fc.ipV6().map((ip) => ip.replace(/\.\d+$/, '')),
      )
      .map((host) => `http://[${host}]/`)
    const tally = { accepted: 0, refused: 0 }
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostile, ordinary, bracketed), async (url) => {
        const accepted = (await refusal(url)) === undefined
        tally[accepted ? 'accepted' : 'refused']++
        if (accepted) {
          expect(workerCanUse(url), url).toBe(true)
        }
      }),
      { numRuns: 3_000, seed: 20261201 },
    )
    await fc.assert(
      fc.asyncProperty(ordinary, async (url) => {
        expect(await refusal(url), url).toBeUndefined()
      }),
      { numRuns: 300, seed: 20261201 },
    )
    expect(tally.accepted).toBeGreaterThan(300)
    expect(tally.refused).toBeGreaterThan(300)
  })
})
