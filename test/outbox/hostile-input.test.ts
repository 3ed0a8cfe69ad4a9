import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { RenderArgs } from './sql-calls.ts'
import { asSqlError, callOpenCollection, callRecord, failureOf } from './sql-calls.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await testDb?.drop()
})

const VALID: RenderArgs = {
  org_id: 'org_1',
  render_id: 'img_1',
  kind: 'image',
  status: 'failed',
  template_id: 'tpl_abc',
  result_url: null,
  duration_ms: 1200,
  webhook_url: 'https://your.app/hooks/imtegrate',
  collection_id: null,
  error: { code: 'render_failed', message: 'the font is missing' },
}

const record = (overrides: Partial<RenderArgs>) =>
  failureOf(testDb.pool, (client) => callRecord(client, { ...VALID, ...overrides }))

/** Raw bytes, sent by pg as a binary parameter: jsonb's binary form is a version byte, then the text. */
const jsonbBytes = (...parts: Array<string | number[]>) =>
  Buffer.concat([
    Buffer.from([1]),
    ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))),
  ])

describe('record_render_status given hostile input', () => {
  it('accepts the valid call the cases below start from', async () => {
    expect(await record({})).toBeUndefined()
  })

  it.each<[string, Partial<RenderArgs>, RegExp]>([
    [
      'a 100 KB webhook_url',
      { webhook_url: `https://a.example/${'x'.repeat(100_000)}` },
      /^webhook_url is 100018 characters long; the limit is 2048$/,
    ],
    [
      'a 100 KB result_url',
      { result_url: `https://a.example/${'x'.repeat(100_000)}` },
      /^result_url is 100018 characters long; the limit is 4096$/,
    ],
    [
      'a 100 KB render_id',
      { render_id: 'r'.repeat(100_000) },
      /^render_id is 100000 characters long; the limit is 200$/,
    ],
    ['an unknown kind', { kind: 'audio' }, /^kind must be 'image' or 'video', got 'audio'$/],
    ['a missing kind', { kind: null }, /^kind must be 'image' or 'video', got null$/],
    [
      'an unknown status',
      { status: 'exploded' },
      /^status must be one of queued, rendering, completed, failed, got 'exploded'$/,
    ],
    ['a status in other case', { status: 'COMPLETED' }, /^status must be one of/],
    ['a negative duration', { duration_ms: -1 }, /^duration_ms must not be negative, got -1$/],
    [
      'error as a string',
      { error: JSON.stringify('boom') },
      /^error must be a JSON object \{code, message\} of strings$/,
    ],
    ['error as an array', { error: JSON.stringify([{ code: 'x' }]) }, /^error must be a JSON object/],
    ['error as JSON null', { error: 'null' }, /^error must be a JSON object/],
    ['error with a numeric code', { error: { code: 42, message: 'x' } }, /^error must be a JSON object/],
    [
      'error with a nested message',
      { error: { code: 'x', message: { text: 'y' } } },
      /^error must be a JSON object/,
    ],
    [
      'error with extra keys',
      { error: { code: 'x', message: 'y', stack: 'z' } },
      /^error must be a JSON object/,
    ],
    [
      'error longer than 4 KB',
      { error: { code: 'x', message: 'y'.repeat(5_000) } },
      /^error is longer than 4096 characters$/,
    ],
    [
      'credentials in the URL',
      { webhook_url: 'https://user:pass@your.app/hook' },
      /^webhook_url must not contain credentials$/,
    ],
    [
      'a javascript: URL',
      { webhook_url: 'javascript:alert(1)' },
      /^webhook_url must be an absolute http\(s\) URL/,
    ],
    ['a relative URL', { webhook_url: '/hooks/imtegrate' }, /^webhook_url must be an absolute http\(s\) URL/],
    [
      'a URL with a fragment',
      { webhook_url: 'https://your.app/hook#x' },
      /^webhook_url must be an absolute http\(s\) URL/,
    ],
    [
      'a URL with a control character',
      { webhook_url: 'https://your.app/ho\u0007ok' },
      /^webhook_url must not contain control characters$/,
    ],
    ['an org id with spaces', { org_id: 'org 1' }, /^org_id may contain only letters, digits and _ \. : -$/],
    ['an org id with a newline', { org_id: 'org_1\n' }, /^org_id may contain only/],
    ['an empty render id', { render_id: '' }, /^render_id is required$/],
    ['a unicode template id', { template_id: 'tpl_é' }, /^template_id may contain only/],
    [
      'an unopened collection',
      { collection_id: 'col_none', status: 'completed', error: null },
      /^collection_id col_none is not an open collection of org org_1/,
    ],
  ])('refuses %s with SQLSTATE 22023 naming the argument', async (_, overrides, message) => {
    const error = await record(overrides)
    expect(error?.code).toBe('22023')
    expect(error?.message).toMatch(message)
  })

  // Regression (issue 13): each was recorded, stored or silently dropped, or refused naming nothing.
  it.each<[string, Partial<RenderArgs>, RegExp]>([
    [
      'a duration beyond an integer',
      { duration_ms: 2 ** 31 },
      /^duration_ms must be a whole number of milliseconds up to 2147483647, got 2147483648$/,
    ],
    [
      'a fractional duration',
      { duration_ms: 1.5 },
      /^duration_ms must be a whole number of milliseconds up to 2147483647, got 1.5$/,
    ],
    ['a duration that is not a number', { duration_ms: 'NaN' }, /^duration_ms must be a whole number/],
    ['an infinite duration', { duration_ms: 'Infinity' }, /^duration_ms must be a whole number/],
    [
      'an empty error',
      { error: '{}' },
      /^error must give a code, a message or both, none of them empty \(pass null when there is no error\)$/,
    ],
    ['an error with an empty code', { error: { code: '', message: 'm' } }, /^error must give a code/],
    ['an error with an empty message', { error: { message: '' } }, /^error must give a code/],
    ['an empty result_url', { status: 'completed', error: null, result_url: '' }, /^result_url is empty/],
    [
      'a result_url with a control character',
      { status: 'completed', error: null, result_url: 'https://cdn.example/a\nb' },
      /^result_url must not contain control characters$/,
    ],
    [
      'a result_url on a failed render',
      { result_url: 'https://cdn.example/r.png' },
      /^result_url is for a completed render, not a failed one \(pass null\)$/,
    ],
    [
      'an error on a completed render',
      { status: 'completed' },
      /^error is for a failed render, not a completed one \(pass null\)$/,
    ],
    [
      'a collection_id no collection has, on a non-terminal status',
      { status: 'queued', error: null, collection_id: 'col_none' },
      /^collection_id col_none is not an open collection of org org_1 \(call webhooks.open_collection first\)$/,
    ],
  ])('refuses %s with SQLSTATE 22023 naming the argument', async (_, overrides, message) => {
    const error = await record(overrides)
    expect(error?.code).toBe('22023')
    expect(error?.message).toMatch(message)
  })

  it('names duration_ms given as a literal too wide or fractional for an integer', async () => {
    // Regression: the integer argument made these fail before the function ran, as 42883
    // (function does not exist) naming no argument.
    for (const literal of ['2147483648', '1.5', '1e300']) {
      const error = await failureOf(testDb.pool, (c) =>
        c.query(`select webhooks.record_render_status(org_id => 'org_1', render_id => 'img_1',
          kind => 'image', status => 'completed', duration_ms => ${literal})`),
      )
      expect(error).toEqual({
        code: '22023',
        message: `duration_ms must be a whole number of milliseconds up to 2147483647, got ${Number(literal)}`,
      })
    }
  })

  it('keeps every earlier way of passing duration_ms and child_count working', async () => {
    const calls = [
      `select webhooks.record_render_status('org_1', 'img_p', 'image', 'completed', null, null, 3210)`,
      `select webhooks.record_render_status(org_id => 'org_1', render_id => 'img_i', kind => 'image',
        status => 'completed', duration_ms => 3210::integer)`,
      `select webhooks.record_render_status(org_id => 'org_1', render_id => 'img_b', kind => 'image',
        status => 'completed', duration_ms => 3210::bigint)`,
      `select webhooks.record_render_status(org_id => 'org_1', render_id => 'img_n', kind => 'image',
        status => 'completed', duration_ms => 3210.0)`,
      `select webhooks.open_collection('org_1', 'col_p', 2::smallint)`,
      `select webhooks.open_collection(org_id => 'org_1', collection_id => 'col_i', child_count => '2')`,
    ]
    const client = await testDb.pool.connect()
    try {
      await client.query('begin')
      for (const call of calls) {
        await client.query(call)
      }
      const { rows } = await client.query(
        `select data ->> 'duration_ms' as ms from webhooks.events where subject_id like 'img\\__' order by 1`,
      )
      expect(rows).toEqual([{ ms: '3210' }, { ms: '3210' }, { ms: '3210' }, { ms: '3210' }])
    } finally {
      await client.query('rollback')
      client.release()
    }
  })

  it('refuses text that is not a number, or error text that is not JSON, before the function runs (documented)', async () => {
    // PostgreSQL converts an argument to its parameter type before calling the function, so
    // these name no argument: 22P02 quotes the value instead (docs/contract.md).
    expect(await record({ duration_ms: 'abc' })).toEqual({
      code: '22P02',
      message: 'invalid input syntax for type double precision: "abc"',
    })
    expect(await record({ error: 'not json' })).toMatchObject({
      code: '22P02',
      message: 'invalid input syntax for type json',
    })
  })

  it('refuses a render reported again with another kind, naming kind', async () => {
    const error = await failureOf(testDb.pool, async (client) => {
      const first = { ...VALID, render_id: 'img_twice', status: 'completed', error: null }
      expect(await callRecord(client, first)).toMatch(/^evt_/)
      // The same report again is harmless: no second event.
      expect(await callRecord(client, first)).toBeNull()
      await callRecord(client, { ...first, kind: 'video' })
    })
    expect(error).toEqual({
      code: '22023',
      message: "kind 'video' differs from 'image', reported first for render img_twice",
    })
  })

  it('refuses a terminal status reported again with a collection_id no collection has', async () => {
    const error = await failureOf(testDb.pool, async (client) => {
      const first = { ...VALID, render_id: 'img_again', status: 'completed', error: null }
      expect(await callRecord(client, first)).toMatch(/^evt_/)
      await callRecord(client, { ...first, collection_id: 'col_none' })
    })
    expect(error).toEqual({
      code: '22023',
      message:
        'collection_id col_none is not an open collection of org org_1 (call webhooks.open_collection first)',
    })
  })

  it('refuses a NUL byte in any text argument before the function runs (PostgreSQL text cannot hold NUL)', async () => {
    for (const overrides of [{ render_id: 'img_\u00001' }, { webhook_url: 'https://a.example/\u0000' }]) {
      expect(await record(overrides)).toEqual({
        code: '22021',
        message: 'invalid byte sequence for encoding "UTF8": 0x00',
      })
    }
    // Inside JSON it is an escape, which jsonb refuses as well.
    expect((await record({ error: { code: 'x', message: 'a\u0000b' } }))?.code).toBe('22P05')
  })

  it('refuses invalid UTF-8 sent as raw bytes, in a text argument or in the error message', async () => {
    const text = await record({ render_id: Buffer.from([0x69, 0x6d, 0x67, 0xff, 0xfe]) })
    expect(text?.code).toBe('22021')
    expect(text?.message).toMatch(/^invalid byte sequence for encoding "UTF8": 0xff/)
    const json = await record({ error: jsonbBytes('{"code":"x","message":"', [0xc3, 0x28], '"}') })
    expect(json?.code).toBe('22021')
    // A lone UTF-16 surrogate, as JSON.stringify escapes it, is refused by the JSON parser.
    expect((await record({ error: { code: 'x', message: 'bad \ud800 half' } }))?.code).toBe('22P02')
  })

  it('leaves the caller with a clean error and an aborted transaction, from the TypeScript helper too', async () => {
    const outcome = await testDb.db
      .transaction()
      .execute((trx) =>
        recordRenderStatus(trx, {
          orgId: 'org_1',
          renderId: 'img_x',
          kind: 'image',
          status: 'completed',
          durationMs: -5,
        }),
      )
      .catch(asSqlError)
    expect(outcome).toEqual({ code: '22023', message: 'duration_ms must not be negative, got -5' })
    const events = await testDb.db.selectFrom('webhooks.events').select('id').execute()
    expect(events).toEqual([])
  })
})

describe('open_collection given hostile input', () => {
  const open = (overrides: Record<string, unknown>) =>
    failureOf(testDb.pool, (client) =>
      callOpenCollection(client, { org_id: 'org_1', collection_id: 'col_1', child_count: 3, ...overrides }),
    )

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a zero child count', { child_count: 0 }, /^child_count must be at least 1, got 0$/],
    ['a negative child count', { child_count: -4 }, /^child_count must be at least 1, got -4$/],
    ['a missing child count', { child_count: null }, /^child_count must be at least 1, got null$/],
    ['a huge child count', { child_count: 100_001 }, /^child_count must be at most 100000, got 100001$/],
    // Regression (issue 13): these failed before the function ran, naming no argument.
    [
      'a child count beyond an integer',
      { child_count: 2 ** 31 },
      /^child_count must be at most 100000, got 2147483648$/,
    ],
    ['a fractional child count', { child_count: 1.5 }, /^child_count must be a whole number, got 1.5$/],
    [
      'a child count that is not a number',
      { child_count: 'NaN' },
      /^child_count must be at most 100000, got NaN$/,
    ],
    [
      'a 100 KB webhook_url',
      { webhook_url: `https://a.example/${'x'.repeat(100_000)}` },
      /^webhook_url is 100018 characters long/,
    ],
    [
      'a javascript: URL',
      { webhook_url: 'javascript:alert(1)' },
      /^webhook_url must be an absolute http\(s\) URL/,
    ],
    ['an id with a quote', { collection_id: "col'1" }, /^collection_id may contain only/],
  ])('refuses %s with SQLSTATE 22023 naming the argument', async (_, overrides, message) => {
    const error = await open(overrides)
    expect(error?.code).toBe('22023')
    expect(error?.message).toMatch(message)
  })
  // Regression: only a different child_count was refused; other values were silently ignored.
  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'child_count',
      { child_count: 4 },
      /^child_count 4 differs from 3, given when collection col_re was opened$/,
    ],
    ['template_id', { template_id: 'tpl_b' }, /^template_id 'tpl_b' differs from 'tpl_a', given when/],
    ['template_id', { template_id: null }, /^template_id null differs from 'tpl_a', given when/],
    [
      'webhook_url',
      { webhook_url: null },
      /^webhook_url null differs from 'https:\/\/a\.example\/c', given when/,
    ],
  ])('opened again with another %s is refused, and the first values stay', async (_, overrides, message) => {
    // Committed, unlike open(): each call in a transaction of its own.
    const openCommitted = async (overrides: Record<string, unknown>) => {
      const client = await testDb.pool.connect()
      try {
        await callOpenCollection(client, {
          org_id: 'org_1',
          collection_id: 'col_re',
          child_count: 3,
          ...overrides,
        })
        return undefined
      } catch (error) {
        return asSqlError(error)
      } finally {
        client.release()
      }
    }
    await testDb.pool.query(`delete from webhooks.collections where id = 'col_re'`)
    const first = { template_id: 'tpl_a', webhook_url: 'https://a.example/c' }
    expect(await openCommitted(first)).toBeUndefined()
    expect(await openCommitted(first)).toBeUndefined()
    const error = await openCommitted({ ...first, ...overrides })
    expect(error?.code).toBe('22023')
    expect(error?.message).toMatch(message)
    const { rows } = await testDb.pool.query(
      `select child_count, template_id, webhook_url from webhooks.collections where id = 'col_re'`,
    )
    expect(rows).toEqual([{ child_count: 3, template_id: 'tpl_a', webhook_url: 'https://a.example/c' }])
  })
})
