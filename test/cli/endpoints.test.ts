import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import { fanOutEvents } from '../../src/store/events.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

type Created = {
  id: string
  org_id: string
  url: string
  event_types: string[] | null
  max_in_flight: number | null
  rate_limit: number | null
  secret: string
}
type Listed = Array<
  Record<string, unknown> & { id: string; enabled: boolean; disabled_reason: string | null }
>

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
})

afterAll(async () => {
  await testDb?.drop()
})

const cli = (...argv: string[]) => runCli(testDb, argv)
const create = (org: string, ...extra: string[]) =>
  runCliJson<Created>(testDb, [
    'endpoints',
    'create',
    '--org',
    org,
    '--url',
    'https://example.com/hook',
    ...extra,
  ])
const stored = (id: string) =>
  testDb.db.selectFrom('webhooks.endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('endpoints create', () => {
  it('prints the endpoint id and a whsec_ secret of 32 random bytes, once', async () => {
    const result = await cli('endpoints', 'create', '--org', 'org_c', '--url', 'https://example.com/a')
    expect(result.code).toBe(0)
    const id = /^id: (ep_[0-9a-f]{32})$/m.exec(result.out)?.[1]
    const secret = /^secret: (whsec_\S+)$/m.exec(result.out)?.[1]
    expect(id).toBeDefined()
    expect(Buffer.from(secret?.slice('whsec_'.length) ?? '', 'base64')).toHaveLength(32)
    expect(result.out).toContain('events: all')
    expect(result.err).toContain('shown only this once')
    expect(await stored(id ?? '')).toMatchObject({ org_id: 'org_c', url: 'https://example.com/a', secret })
  })

  it('prints JSON with --json and stores the secret sealed when a secrets key is set', async () => {
    const key = randomBytes(32).toString('base64')
    const created = await runCliJson<Created>(
      testDb,
      ['endpoints', 'create', '--org', 'org_c', '--url', 'https://example.com/b', '--description', 'billing'],
      { WEBHOOK_SECRETS_KEY: key },
    )
    expect(created).toEqual({
      id: expect.stringMatching(/^ep_/),
      org_id: 'org_c',
      url: 'https://example.com/b',
      event_types: null,
      max_in_flight: null,
      rate_limit: null,
      secret: expect.stringMatching(/^whsec_/),
    })
    const row = await stored(created.id)
    expect(row.secret).toMatch(/^enc:v1:/)
    expect(row.secret).not.toContain(created.secret.slice(6))
    expect(row.description).toBe('billing')
  })

  it('subscribes to the listed event types and families, without repeats', async () => {
    const created = await create('org_c', '--events', 'video.*, image.completed,video.*')
    expect(created.event_types).toEqual(['video.*', 'image.completed'])
    expect((await stored(created.id)).event_types).toEqual(['video.*', 'image.completed'])
  })

  it.each([
    [['--events', 'video.started'], /unknown event type 'video.started'/],
    [['--events', 'vid*'], /unknown event type 'vid\*'/],
    [['--events', ' , '], /--events needs at least one event type/],
  ])('refuses %j as a usage error (exit 2)', async (extra, message) => {
    const result = await cli(
      'endpoints',
      'create',
      '--org',
      'org_c',
      '--url',
      'https://example.com/x',
      ...extra,
    )
    expect(result.code).toBe(2)
    expect(result.err).toMatch(message)
    expect(result.err).toContain('usage: imtegrate-webhooks endpoints')
  })

  it.each([
    [['--org', 'org_c', '--url', 'ftp://example.com/x'], /url must be an absolute http\(s\) URL/],
    [['--org', 'org_c', '--url', 'https://user:pw@example.com/x'], /url must not contain credentials/],
    // Regression (issue 13): accepted, then every attempt failed (port 0) or went to '//x'.
    [['--org', 'org_c', '--url', 'http://127.0.0.1:0/'], /url has no valid host and port/],
    [['--org', 'org_c', '--url', 'https://a..b/x'], /url has no valid host and port/],
    [['--org', 'org_c', '--url', 'https://example.com/\\x'], /url must not contain a backslash/],
    [['--org', 'bad org', '--url', 'https://example.com/x'], /org_id may contain only/],
    [['--url', 'https://example.com/x'], /--org is required/],
    [['--org', 'org_c'], /--url is required/],
    [['--org', 'org_c', '--url', 'https://example.com/x', '--color'], /Unknown option '--color'/],
  ])('refuses bad arguments %j with exit 2 and a clear message', async (args, message) => {
    const result = await cli('endpoints', 'create', ...args)
    expect(result.code).toBe(2)
    expect(result.err).toMatch(message)
  })
})

describe('endpoints list', () => {
  it('lists an org’s endpoints as a table or JSON, never with their secrets', async () => {
    const a = await create('org_list')
    const b = await create('org_list', '--events', 'collection.completed')
    await create('org_other')
    const listed = await runCliJson<Listed>(testDb, ['endpoints', 'list', '--org', 'org_list'])
    expect(listed.map((ep) => ep.id)).toEqual([a.id, b.id])
    expect(listed[1]).toMatchObject({ event_types: ['collection.completed'], enabled: true })
    for (const ep of listed) {
      expect(
        Object.keys(ep).filter((key) => key.includes('secret') && key !== 'previous_secret_expires_at'),
      ).toEqual([])
    }
    const text = await cli('endpoints', 'list', '--org', 'org_list')
    expect(text.code).toBe(0)
    expect(text.out.split('\n')).toHaveLength(3)
    expect(text.out).toContain('collection.completed')
    const all = await cli('endpoints', 'list')
    for (const output of [JSON.stringify(listed), text.out, all.out]) {
      expect(output).not.toContain('whsec_')
      expect(output).not.toContain(a.secret.slice(6))
    }
    expect(all.out).toContain('org_other')
  })
})

describe('endpoint limits', () => {
  it('are set when registering, changed with update, cleared back to the defaults, and listed', async () => {
    const ep = await create('org_lim', '--max-in-flight', '3', '--rate-limit', '30/m')
    expect(ep).toMatchObject({ max_in_flight: 3, rate_limit: 0.5 })
    expect(await stored(ep.id)).toMatchObject({ max_in_flight: 3, rate_limit: 0.5 })

    expect(await cli('endpoints', 'update', ep.id, '--rate-limit', '50/s')).toMatchObject({
      code: 0,
      out: `updated ${ep.id}: 3 in flight, 50/s`,
    })
    const listed = await runCliJson<Listed>(testDb, ['endpoints', 'list', '--org', 'org_lim'])
    expect(listed).toEqual([
      expect.objectContaining({
        id: ep.id,
        max_in_flight: 3,
        rate_limit: 50,
        delivery: expect.objectContaining({ state: 'healthy', in_flight: 0, due: 0 }),
      }),
    ])
    const table = await cli('endpoints', 'list', '--org', 'org_lim')
    expect(table.out).toContain('3 in flight, 50/s')
    expect(table.out).toContain('healthy, 0 in flight, 0 due')

    await cli('endpoints', 'update', ep.id, '--max-in-flight', 'default', '--rate-limit', 'none')
    expect(await stored(ep.id)).toMatchObject({ max_in_flight: null, rate_limit: null })
  })

  it.each([
    [['--max-in-flight', '0'], '--max-in-flight must be a whole number from 1 to 1000'],
    [['--rate-limit', '5/h'], '--rate-limit must be requests per second or per minute'],
    [[], 'nothing to change'],
  ])('refuses update %j with usage, changing nothing', async (flags, message) => {
    const ep = await create('org_lim_bad', '--max-in-flight', '4')
    const result = await cli('endpoints', 'update', ep.id, ...flags)
    expect(result.code).toBe(2)
    expect(result.err).toContain(message)
    expect(await stored(ep.id)).toMatchObject({ max_in_flight: 4, rate_limit: null })
  })

  it('refuses an unknown endpoint with one line, exit 1', async () => {
    expect(await cli('endpoints', 'update', 'ep_nope', '--max-in-flight', '2')).toMatchObject({
      code: 1,
      err: 'error: no endpoint ep_nope',
    })
  })
})

describe('endpoints disable, enable and delete', () => {
  it('disables with a reason, drops pending deliveries, and enables again', async () => {
    const ep = await create('org_state')
    const eventId = await testDb.db.transaction().execute((trx) =>
      recordRenderStatus(trx, {
        orgId: 'org_state',
        renderId: 'img_s1',
        kind: 'image',
        status: 'completed',
      }),
    )
    await fanOutEvents(testDb.db, 100)
    const disabled = await runCliJson<{ dropped: number }>(testDb, [
      'endpoints',
      'disable',
      ep.id,
      '--reason',
      'customer maintenance',
    ])
    expect(disabled).toEqual({ id: ep.id, enabled: false, dropped: 1 })
    const delivery = await testDb.db
      .selectFrom('webhooks.deliveries')
      .selectAll()
      .where('event_id', '=', eventId as string)
      .executeTakeFirstOrThrow()
    expect(delivery).toMatchObject({
      status: 'dropped',
      last_error: 'endpoint_disabled: customer maintenance',
    })
    expect(delivery.dropped_at).not.toBeNull()
    // Out of the queue: no attempt is coming.
    const queued = await testDb.db
      .selectFrom('webhooks.delivery_queue')
      .select('delivery_id')
      .where('delivery_id', '=', delivery.id)
      .execute()
    expect(queued).toEqual([])
    expect(await stored(ep.id)).toMatchObject({ enabled: false, disabled_reason: 'customer maintenance' })
    const again = await cli('endpoints', 'disable', ep.id)
    expect(again).toMatchObject({ code: 0, out: expect.stringContaining('already disabled') })

    expect(await cli('endpoints', 'enable', ep.id)).toMatchObject({ code: 0, out: `enabled ${ep.id}` })
    expect(await stored(ep.id)).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null })
  })

  // A deleted endpoint is not found, as the API answers for it (one rule for the CLI and the API).
  it('deletes softly: hidden from list, history kept, and no longer enabled or rotated', async () => {
    const ep = await create('org_delete')
    expect(await runCliJson(testDb, ['endpoints', 'delete', ep.id])).toEqual({
      id: ep.id,
      deleted: true,
      dropped: 0,
    })
    expect(await runCliJson<Listed>(testDb, ['endpoints', 'list', '--org', 'org_delete'])).toEqual([])
    expect(await stored(ep.id)).toMatchObject({ enabled: false, disabled_reason: 'the endpoint was deleted' })
    for (const action of ['enable', 'disable', 'delete', 'rotate-secret']) {
      const result = await cli('endpoints', action, ep.id)
      expect(result.code).toBe(1)
      expect(result.err).toBe(`error: no endpoint ${ep.id}`)
    }
  })

  it.each(['enable', 'disable', 'delete', 'rotate-secret'])('%s of an unknown id exits 1', async (action) => {
    const result = await cli('endpoints', action, 'ep_nope')
    expect(result).toEqual({ code: 1, out: '', err: 'error: no endpoint ep_nope' })
  })

  it.each(['enable', 'disable', 'delete', 'rotate-secret'])('%s without an id exits 2', async (action) => {
    const result = await cli('endpoints', action)
    expect(result.code).toBe(2)
    expect(result.err).toContain('missing endpoint id')
  })

  it('refuses an empty --reason', async () => {
    const ep = await create('org_state')
    expect((await cli('endpoints', 'disable', ep.id, '--reason', ' ')).code).toBe(2)
  })

  it('counts --reason and --description in characters, as the SQL checks do (astral-plane ones too)', async () => {
    // Issue 13: the CLI counted --reason in UTF-16 units, so 300 emoji were over a limit of 500;
    // it now takes the API's rule, which counts characters as the SQL checks do.
    const astral = (n: number) => '😀'.repeat(n)
    const ep = await create('org_len', '--description', astral(500))
    expect(await stored(ep.id)).toMatchObject({ description: astral(500) })
    expect((await cli('endpoints', 'disable', ep.id, '--reason', astral(500))).code).toBe(0)
    expect(await stored(ep.id)).toMatchObject({ disabled_reason: astral(500) })
    const refused = await cli('endpoints', 'disable', ep.id, '--reason', astral(501))
    expect(refused.code).toBe(2)
    expect(refused.err).toMatch(/reason must be 1 to 500 characters/)
    const described = await cli(
      'endpoints',
      'create',
      '--org',
      'org_len',
      '--url',
      'https://example.com/',
      '--description',
      astral(501),
    )
    expect(described.code).toBe(2)
    expect(described.err).toContain('description is 501 characters long; the limit is 500')
  })
})

describe('endpoints rotate-secret', () => {
  it('prints a new secret once and keeps the old one for the grace period', async () => {
    const ep = await create('org_rotate')
    const rotated = await runCliJson<{ id: string; secret: string }>(
      testDb,
      ['endpoints', 'rotate-secret', ep.id],
      { WEBHOOK_SECRET_ROTATION_GRACE: '2h' },
    )
    expect(rotated.id).toBe(ep.id)
    expect(rotated.secret).toMatch(/^whsec_/)
    expect(rotated.secret).not.toBe(ep.secret)
    const row = await stored(ep.id)
    expect(row).toMatchObject({ secret: rotated.secret, previous_secret: ep.secret })
    const graceLeft = (row.previous_expires_at?.getTime() ?? 0) - Date.now()
    expect(graceLeft).toBeGreaterThan(2 * 3_600_000 - 60_000)
    expect(graceLeft).toBeLessThanOrEqual(2 * 3_600_000)
    const [listed] = await runCliJson<Listed>(testDb, ['endpoints', 'list', '--org', 'org_rotate'])
    expect(listed?.['previous_secret_expires_at']).toEqual(row.previous_expires_at?.toISOString())
  })
})

describe('endpoints --help and bad actions', () => {
  it.each([
    ['endpoints', '--help'],
    ['endpoints', 'create', '--help'],
    ['endpoints', 'list', '-h'],
    ['endpoints', 'disable', 'ep_x', '--help'],
    ['endpoints', 'rotate-secret', '--help'],
  ])('%j prints the usage of every action and exits 0', async (...argv) => {
    const result = await cli(...argv)
    expect(result.code).toBe(0)
    for (const action of ['create', 'list', 'disable', 'enable', 'delete', 'rotate-secret']) {
      expect(result.out).toContain(`  ${action} `)
    }
  })

  it('is listed in the top-level usage', async () => {
    expect((await cli('--help')).out).toMatch(/^ {2}endpoints +\S/m)
  })

  it.each([[['endpoints']], [['endpoints', 'frobnicate']]])('%j exits 2', async (argv) => {
    const result = await cli(...argv)
    expect(result.code).toBe(2)
    expect(result.err).toMatch(/missing action|unknown action: frobnicate/)
  })
})
