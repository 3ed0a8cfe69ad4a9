import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { renderCall } from './recording-arbitraries.ts'
import type { RenderArgs } from './sql-calls.ts'
import { asSqlError } from './sql-calls.ts'

// record_render_status checks its arguments with one quick expression (render_arguments_valid)
// and only on failure runs the detailed checks that name the argument
// (explain_render_arguments, which raises XX000 if it finds nothing wrong). The two rule sets
// must agree on every input, or a bad argument would be refused without its name, or worse.

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await testDb?.drop()
})

const ARGS = `$1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10::jsonb`

// Values on both sides of each rule's boundary.
const id = fc.oneof(
  fc.constantFrom(
    'a'.repeat(200),
    'a'.repeat(201),
    '',
    'a b',
    'a/b',
    'ä',
    'A-z_.:9',
    'x\ny',
    '-',
    'x\ty',
    'x\u00a0y',
    'x http://y',
    null,
  ),
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,6}$/),
  fc.string({ maxLength: 6 }),
)
const longUrl = (length: number) => `https://a.example/${'p'.repeat(length - 'https://a.example/'.length)}`
const url = fc.oneof(
  fc.constantFrom(
    'HTTPS://A.EXAMPLE/x',
    'http://a.example',
    'http://a.example?x=1',
    'http://a.example/p?q=@',
    'http://user@b.example/',
    'http://a.example/p@q',
    'http://a.example/\u0007',
    'http://a.example/\u007f',
    'http://a.example/#f',
    'http:///x',
    'http://a b/',
    'http://a.example/p q',
    'http://a.example/p\tq',
    'http://a\u00a0b/',
    'http://a.example/\u0085',
    'HtTpS://a.example/',
    'httpss://a.example/',
    'http://-',
    'ftp://a.example/',
    '//a.example/',
    'http://[',
    'http://[::1]:80/x',
    'http://[1::2::3]/',
    'http://1.2.3.4/',
    'http://999.1.1.1/',
    'http://a.example.0x1/',
    'http://x.example:65535/',
    'http://x.example:65536/',
    'http://a%b.example/',
    'http://bücher.example/',
    'http://127.0.0.1:0/',
    'https://a..b/x',
    'https://_/x',
    'https://example.com./x',
    'https://example.com/\\x',
    longUrl(2048),
    longUrl(2049),
    null,
  ),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
)
const errorText = (messageLength: number) => JSON.stringify({ code: 'c', message: 'm'.repeat(messageLength) })
const error = fc.oneof(
  fc.constantFrom(
    '{}',
    '{"code":""}',
    '{"code":"x","message":""}',
    '{"code":"x"}',
    '{"message":"y"}',
    '{"code":1}',
    '{"code":null}',
    '{"code":"x","message":"y","z":1}',
    '[]',
    '"s"',
    'null',
    errorText(4096 - errorText(0).length - 1),
    errorText(4096 - errorText(0).length + 2),
    null,
  ),
  fc.jsonValue().map((value) => JSON.stringify(value)),
)
// A valid call with at most one argument moved to an edge value: one rule is tested at a time.
const base = {
  org_id: 'org_1',
  render_id: 'img_1',
  kind: 'image',
  status: 'completed',
  template_id: 'tpl_1',
  result_url: 'https://cdn.example/r.png',
  duration_ms: 1,
  webhook_url: 'https://hooks.example/in',
  collection_id: null,
  error: null,
}
const edges: Record<keyof typeof base, fc.Arbitrary<unknown>> = {
  org_id: id,
  render_id: id,
  kind: fc.constantFrom('image', 'video', 'IMAGE', '', null),
  status: fc.constantFrom('queued', 'rendering', 'completed', 'failed', 'done', null),
  template_id: id,
  result_url: fc.constantFrom(null, 'x'.repeat(4096), 'x'.repeat(4097), '', 'a\u0007b', 'a\u0085b'),
  duration_ms: fc.constantFrom(null, -1, 0, 2 ** 31 - 1, 2 ** 31, 1.5, -0.5, 'NaN', 'Infinity', '-Infinity'),
  webhook_url: url,
  collection_id: id,
  error,
}
// The status the other arguments are judged with: no result_url when failed, no error when completed.
const status = fc.constantFrom('completed', 'failed', 'queued')
const edgeCall = fc.oneof(
  ...Object.entries(edges).map(([name, values]) =>
    fc.tuple(status, values).map(([s, value]) => ({ ...base, status: s, [name]: value })),
  ),
)

describe('the quick argument check', () => {
  it('accepts exactly the arguments the detailed checks accept', async () => {
    const tally = { valid: 0, invalid: 0, unreachable: 0 }
    const agree = async (args: RenderArgs) => {
      const values = [
        args.org_id,
        args.render_id,
        args.kind,
        args.status,
        args.template_id ?? null,
        args.result_url ?? null,
        args.duration_ms ?? null,
        args.webhook_url ?? null,
        args.collection_id ?? null,
        args.error ?? null,
      ]
      let valid: boolean
      try {
        const { rows } = await client.query<{ valid: boolean }>(
          `select webhooks.render_arguments_valid(${ARGS}) as valid`,
          values,
        )
        valid = rows[0]?.valid === true
      } catch {
        // Refused before our functions run (a NUL byte, a number that is not an integer).
        tally.unreachable++
        return
      }
      const raised = await client.query(`select webhooks.explain_render_arguments(${ARGS})`, values).then(
        () => undefined,
        (e: unknown) => asSqlError(e),
      )
      expect(raised?.code, `${JSON.stringify(values).slice(0, 300)}: ${raised?.message}`).toBe(
        valid ? 'XX000' : '22023',
      )
      tally[valid ? 'valid' : 'invalid']++
    }
    const call = fc.oneof(
      { arbitrary: renderCall, weight: 1 },
      { arbitrary: edgeCall, weight: 3 },
    ) as fc.Arbitrary<RenderArgs>
    // One connection for every call: pg's pool destroys a client whose query failed.
    const client = await testDb.pool.connect()
    try {
      await fc.assert(fc.asyncProperty(call, agree), { numRuns: 1_000, seed: 20261129 })
    } finally {
      client.release()
    }
    // Both answers were exercised, many times each.
    expect(tally.valid).toBeGreaterThan(100)
    expect(tally.invalid).toBeGreaterThan(100)
  })
})
