import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { asSqlError, callOpenCollection, callRecord, failureOf } from './sql-calls.ts'

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
  // Port 0 parses but cannot be connected to; a backslash parses but is read as a slash.
  return (
    (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
    parsed.hostname !== '' &&
    parsed.port !== '0' &&
    !url.includes('\\')
  )
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
    // Regression (issue 13): names of any RFC 3986 characters, port 0, a backslash in the path.
    'http://127.0.0.1:0/',
    'http://x.example:00000/',
    'http://x.example:080/',
    'https://./x',
    'https://../x',
    'https://a..b/x',
    'https://-/x',
    'https://_/x',
    'http://under_score.example/',
    'https://-a.example/',
    'https://a-.example/',
    'https://*.example.com/',
    "https://exa'mple.com/",
    'https://exa$mple.com/',
    'https://a,b.com/',
    'https://a~b.example/',
    'https://example.com../x',
    'https://example.com./x',
    'http://1.2.3.4./',
    'https://example.com/\\x',
    'https://example.com/a?b=\\',
  ])('refuses %s, naming the host and port', async (url) => {
    expect(await refusal(url)).toMatch(
      /^webhook_url (has no valid host and port|must be an absolute|must not contain a backslash)/,
    )
  })

  it('says what a valid host and port are, and why a backslash is refused', async () => {
    expect(await refusal("https://exa'mple.com/")).toBe(
      "webhook_url has no valid host and port (a name of dot-separated labels of letters, digits and inner hyphens, without a trailing dot; a dotted IPv4 address; or a bracketed IPv6 one; then an optional port from 1 to 65535), got 'https://exa''mple.com/'",
    )
    expect(await refusal('https://example.com/\\x')).toBe(
      'webhook_url must not contain a backslash (URL parsers read it as a slash)',
    )
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
    'http://XN--BCHER-KVA.EXAMPLE/',
    'http://a-b--c.example:1/',
    'http://1a.2b.example/',
    'http://a/',
    'http://localhost/',
    'http://127.0.0.1:8080/hook',
  ])('accepts %s', async (url) => {
    expect(await refusal(url)).toBeUndefined()
    expect(workerCanUse(url)).toBe(true)
  })

  it.each([
    'http://127.0.0.1:0/',
    'https://a..b/x',
    'https://_/x',
    'https://example.com../x',
    'https://example.com/\\x',
  ])("refuses %s wherever a URL enters, with check_url's message naming the argument", async (url) => {
    const expected = (await refusal(url))?.replace(/^webhook_url /, '')
    expect(expected).toBeDefined()
    const entries: Array<[string, (client: pg.PoolClient) => Promise<unknown>]> = [
      [
        'webhook_url',
        (c) =>
          callRecord(c, {
            org_id: 'org_1',
            render_id: 'img_1',
            kind: 'image',
            status: 'completed',
            webhook_url: url,
          }),
      ],
      [
        'webhook_url',
        (c) =>
          callOpenCollection(c, {
            org_id: 'org_1',
            collection_id: 'col_1',
            child_count: 2,
            webhook_url: url,
          }),
      ],
      [
        'url',
        (c) =>
          c.query(`select webhooks.create_endpoint(org_id => 'org_1', url => $1, secret => 'whsec_x')`, [
            url,
          ]),
      ],
    ]
    for (const [argument, call] of entries) {
      expect(await failureOf(testDb.pool, call)).toEqual({
        code: '22023',
        message: `${argument} ${expected}`,
      })
    }
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
