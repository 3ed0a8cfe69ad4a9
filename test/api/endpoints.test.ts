import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import { fanOutEvents } from '../../src/store/events.ts'
import { refusal, testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
let api: WebhooksApi

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = testApi(testDb)
})
afterAll(() => testDb?.drop())

const stored = (id: string) =>
  testDb.db.selectFrom('webhooks.endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('endpoints through the TypeScript API', () => {
  it('creates an endpoint and shows its secret in that answer only, sealed in the database', async () => {
    const created = await api.createEndpoint('org_ep', {
      url: 'https://example.com/hooks',
      event_types: ['video.*', 'image.failed', 'video.*'],
      description: 'main',
    })
    expect(created).toMatchObject({
      org_id: 'org_ep',
      url: 'https://example.com/hooks',
      event_types: ['video.*', 'image.failed'],
      description: 'main',
      enabled: true,
      disabled_at: null,
      previous_secret_expires_at: null,
    })
    expect(created.id).toMatch(/^ep_/)
    expect(created.secret).toMatch(/^whsec_/)
    expect((await stored(created.id)).secret).toMatch(/^enc:v1:/)
    const fetched = await api.getEndpoint('org_ep', { endpoint_id: created.id })
    expect(fetched).not.toHaveProperty('secret')
    expect(JSON.stringify(await api.listEndpoints('org_ep'))).not.toContain(created.secret)
    expect(await api.revealEndpointSecret('org_ep', { endpoint_id: created.id })).toEqual({
      secret: created.secret,
    })
  })

  it('takes, changes and clears the limits, and shows how the endpoint is delivered to now', async () => {
    const created = await api.createEndpoint('org_ep', {
      url: 'https://example.com/limited',
      max_in_flight: 2,
      rate_limit: 0.5,
    })
    expect(created).toMatchObject({
      max_in_flight: 2,
      rate_limit: 0.5,
      delivery: { state: 'healthy', in_flight: 0, due: 0, waiting: 0, backoff_since: null, last_error: null },
    })
    const updated = await api.updateEndpoint('org_ep', { endpoint_id: created.id, rate_limit: 50 })
    expect(updated).toMatchObject({ max_in_flight: 2, rate_limit: 50 })
    const cleared = await api.updateEndpoint('org_ep', {
      endpoint_id: created.id,
      max_in_flight: null,
      rate_limit: null,
    })
    expect(cleared).toMatchObject({ max_in_flight: null, rate_limit: null })
    for (const [input, field] of [
      [{ max_in_flight: 0 }, 'max_in_flight'],
      [{ max_in_flight: 1.5 }, 'max_in_flight'],
      [{ rate_limit: 0 }, 'rate_limit'],
      [{ rate_limit: 20_000 }, 'rate_limit'],
    ] as const) {
      expect(
        await refusal(api.updateEndpoint('org_ep', { endpoint_id: created.id, ...input })),
      ).toMatchObject({ code: 'INVALID_ARGUMENT', field })
    }
    expect(await stored(created.id)).toMatchObject({ max_in_flight: null, rate_limit: null })
  })

  it('refuses bad input naming the field, and writes nothing', async () => {
    const before = await testDb.db.selectFrom('webhooks.endpoints').select('id').execute()
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => api.createEndpoint('org_ep', { url: 'ftp://example.com/x' }), 'url'],
      [() => api.createEndpoint('org_ep', { url: 'https://user:pw@example.com/' }), 'url'],
      [
        () =>
          api.createEndpoint('org_ep', {
            url: 'https://example.com/',
            event_types: ['image.done' as 'image.failed'],
          }),
        'event_types.0',
      ],
      [() => api.createEndpoint('org_ep', { url: 'https://example.com/', event_types: [] }), 'event_types'],
      [
        () => api.createEndpoint('org_ep', { url: 'https://example.com/', description: 'x'.repeat(501) }),
        'description',
      ],
      [() => api.createEndpoint('org ep', { url: 'https://example.com/' }), 'org_id'],
      [() => api.createEndpoint('', { url: 'https://example.com/' }), 'org_id'],
      [() => api.getEndpoint('org_ep', { endpoint_id: '' }), 'endpoint_id'],
    ]
    for (const [call, field] of cases) {
      expect(await refusal(call())).toMatchObject({ code: 'INVALID_ARGUMENT', field })
    }
    expect(await testDb.db.selectFrom('webhooks.endpoints').select('id').execute()).toEqual(before)
  })

  it('counts length limits in characters as the SQL checks do, astral-plane ones included', async () => {
    // The API's limits (zod's max(), which counts code points since zod 4) and the SQL checks
    // (length()) must agree: 500 emoji are 1000 UTF-16 units but 500 characters to both.
    const astral = (n: number) => '😀'.repeat(n)
    const sqlRefusal = (query: string, values: unknown[]) =>
      testDb.pool.query(query, values).then(
        () => undefined,
        (error: unknown) => (error as Error).message,
      )
    const createSql = `select webhooks.create_endpoint(org_id => 'org_len', url => $1, secret => 'whsec_x', description => $2)`
    const longest = `https://example.com/${astral(2048 - 'https://example.com/'.length)}`
    expect(await sqlRefusal(createSql, [longest, astral(500)])).toBeUndefined()
    const made = await api.createEndpoint('org_len', { url: longest, description: astral(500) })
    expect(await stored(made.id)).toMatchObject({ url: longest, description: astral(500) })

    const tooLongUrl = `${longest}x`
    const urlSql = await sqlRefusal(createSql, [tooLongUrl, null])
    expect(urlSql).toBe('url is 2049 characters long; the limit is 2048')
    expect((await refusal(api.createEndpoint('org_len', { url: tooLongUrl }))).message).toBe(urlSql)
    const descriptionSql = await sqlRefusal(createSql, ['https://example.com/', astral(501)])
    expect(descriptionSql).toBe('description is 501 characters long; the limit is 500')
    expect(
      (
        await refusal(
          api.createEndpoint('org_len', { url: 'https://example.com/', description: astral(501) }),
        )
      ).message,
    ).toBe(descriptionSql)
    expect(
      (await refusal(api.updateEndpoint('org_len', { endpoint_id: made.id, description: astral(501) })))
        .message,
    ).toBe(descriptionSql)
    await api.disableEndpoint('org_len', { endpoint_id: made.id, reason: astral(500) })
    expect(await stored(made.id)).toMatchObject({ disabled_reason: astral(500) })
    expect(
      (await refusal(api.disableEndpoint('org_len', { endpoint_id: made.id, reason: astral(501) }))).field,
    ).toBe('reason')
  })

  it('words refusals as the SQL checks do, whichever layer refuses', async () => {
    const types = 'image.completed, image.failed, video.completed, video.failed, collection.completed'
    expect((await refusal(api.createEndpoint('bad org', { url: 'https://example.com/' }))).message).toBe(
      'org_id may contain only letters, digits and _ . : -',
    )
    expect(
      (await refusal(api.createEndpoint('o'.repeat(201), { url: 'https://example.com/' }))).message,
    ).toBe('org_id is 201 characters long; the limit is 200')
    expect(
      (
        await refusal(
          api.createEndpoint('org_ep', { url: 'https://example.com/', event_types: ['vid*' as 'video.*'] }),
        )
      ).message,
    ).toBe(`event_types.0 has unknown event type 'vid*'; known: ${types}, or a family such as video.*`)
    // Regression (issue 13): a host the URL rules refuse, refused by the one SQL check on create and update.
    const urlSql = await testDb.pool.query("select webhooks.check_url('url', 'https://exa$mple.com/')").then(
      () => 'accepted',
      (error: unknown) => (error as Error).message,
    )
    expect(urlSql).toMatch(/^url has no valid host and port/)
    expect((await refusal(api.createEndpoint('org_ep', { url: 'https://exa$mple.com/' }))).message).toBe(
      urlSql,
    )
    const ep = await api.createEndpoint('org_ep', { url: 'https://example.com/' })
    expect(
      (await refusal(api.updateEndpoint('org_ep', { endpoint_id: ep.id, url: 'https://exa$mple.com/' })))
        .message,
    ).toBe(urlSql)
    expect((await refusal(api.createEndpoint('org_ep', { url: 'http://127.0.0.1:0/' }))).field).toBe('url')
    const sql = await testDb.pool
      .query("select webhooks.check_event_types('event_types', array['vid*'])")
      .then(
        () => 'accepted',
        (error: unknown) => (error as Error).message,
      )
    expect(sql).toBe(
      `event_types has unknown event type 'vid*'; known: ${types}, or a family such as video.*`,
    )
  })

  it('updates the URL, event types and description; pending deliveries follow the new URL', async () => {
    const ep = await api.createEndpoint('org_up', { url: 'https://old.example.com/' })
    await testDb.pool.query(
      `insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
       values ('evt_up1', 'org_up', 'image.completed', 'img_up1', '{}', now())`,
    )
    await fanOutEvents(testDb.db, 10)
    const updated = await api.updateEndpoint('org_up', {
      endpoint_id: ep.id,
      url: 'https://new.example.com/h',
      event_types: ['collection.completed'],
      description: 'moved',
    })
    expect(updated).toMatchObject({
      url: 'https://new.example.com/h',
      event_types: ['collection.completed'],
      description: 'moved',
    })
    const { rows } = await testDb.pool.query('select url from webhooks.deliveries where endpoint_id = $1', [
      ep.id,
    ])
    expect(rows).toEqual([{ url: 'https://new.example.com/h' }])
    // Only what is given changes; null means "every event type" and "no description".
    const cleared = await api.updateEndpoint('org_up', {
      endpoint_id: ep.id,
      event_types: null,
      description: null,
    })
    expect(cleared).toMatchObject({ url: 'https://new.example.com/h', event_types: null, description: null })
    expect(
      await refusal(api.updateEndpoint('org_up', { endpoint_id: ep.id, url: 'https://exa mple.com/' })),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'url',
    })
    expect((await stored(ep.id)).url).toBe('https://new.example.com/h')
  })

  it('disables (dropping pending deliveries), enables and deletes', async () => {
    const ep = await api.createEndpoint('org_life', { url: 'https://example.com/life' })
    await testDb.pool.query(
      `insert into webhooks.events (id, org_id, type, subject_id, data, created_at)
       values ('evt_life1', 'org_life', 'image.completed', 'img_life1', '{}', now())`,
    )
    await fanOutEvents(testDb.db, 10)
    const disabled = await api.disableEndpoint('org_life', { endpoint_id: ep.id, reason: 'maintenance' })
    expect(disabled).toMatchObject({
      endpoint: { enabled: false, disabled_reason: 'maintenance' },
      dropped_deliveries: 1,
    })
    expect(await api.enableEndpoint('org_life', { endpoint_id: ep.id })).toMatchObject({
      enabled: true,
      disabled_reason: null,
    })
    expect(await api.deleteEndpoint('org_life', { endpoint_id: ep.id })).toEqual({
      id: ep.id,
      deleted: true,
      dropped_deliveries: 0,
    })
    expect((await api.listEndpoints('org_life')).data).toEqual([])
    for (const call of [
      () => api.getEndpoint('org_life', { endpoint_id: ep.id }),
      () => api.enableEndpoint('org_life', { endpoint_id: ep.id }),
      () => api.deleteEndpoint('org_life', { endpoint_id: ep.id }),
    ]) {
      expect(await refusal(call())).toEqual({
        code: 'NOT_FOUND',
        field: undefined,
        message: `no endpoint ${ep.id}`,
      })
    }
  })

  it('rotates a secret: the old one signs during the grace period, a second rotation needs force', async () => {
    const ep = await api.createEndpoint('org_rot', { url: 'https://example.com/rot' })
    const rotated = await api.rotateEndpointSecret('org_rot', { endpoint_id: ep.id })
    expect(rotated.secret).not.toBe(ep.secret)
    expect(Date.parse(rotated.previous_secret_expires_at ?? '')).toBeGreaterThan(Date.now() + 86_000_000)
    expect(await refusal(api.rotateEndpointSecret('org_rot', { endpoint_id: ep.id }))).toMatchObject({
      code: 'SECRET_STILL_SIGNING',
    })
    const forced = await api.rotateEndpointSecret('org_rot', { endpoint_id: ep.id, force: true })
    expect(await api.revealEndpointSecret('org_rot', { endpoint_id: ep.id })).toEqual({
      secret: forced.secret,
    })
  })

  it('pages through endpoints in creation order, both ways', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      ids.push((await api.createEndpoint('org_pages', { url: `https://example.com/${i}` })).id)
    }
    const first = await api.listEndpoints('org_pages', { limit: 2 })
    expect(first.data.map((e) => e.id)).toEqual(ids.slice(0, 2))
    expect(first.prev_cursor).toBeNull()
    const second = await api.listEndpoints('org_pages', { limit: 2, after: first.next_cursor ?? '' })
    const third = await api.listEndpoints('org_pages', { limit: 2, after: second.next_cursor ?? '' })
    expect([second, third].map((p) => p.data.map((e) => e.id))).toEqual([ids.slice(2, 4), ids.slice(4)])
    expect(third.next_cursor).toBeNull()
    const back = await api.listEndpoints('org_pages', { limit: 2, before: third.prev_cursor ?? '' })
    expect(back.data.map((e) => e.id)).toEqual(ids.slice(2, 4))
    const start = await api.listEndpoints('org_pages', { limit: 2, before: back.prev_cursor ?? '' })
    expect(start).toMatchObject({ prev_cursor: null })
    expect(start.data.map((e) => e.id)).toEqual(ids.slice(0, 2))
    expect(await refusal(api.listEndpoints('org_pages', { after: 'not-a-cursor' }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'after',
    })
    expect(await refusal(api.listEndpoints('org_pages', { limit: 101 }))).toMatchObject({ field: 'limit' })
  })
})

describe("the org's render-webhook secret through the TypeScript API", () => {
  it('is created once, shown once, rotated, and described without the secret', async () => {
    expect(await refusal(api.getOrgSecret('org_sec'))).toMatchObject({ code: 'NOT_FOUND' })
    const created = await api.createOrgSecret('org_sec')
    expect(created).toEqual({ org_id: 'org_sec', secret: expect.stringMatching(/^whsec_/) })
    expect(await refusal(api.createOrgSecret('org_sec'))).toMatchObject({ code: 'SECRET_EXISTS' })
    const info = await api.getOrgSecret('org_sec')
    expect(info).toMatchObject({ org_id: 'org_sec', rotated_at: null, previous_secret_expires_at: null })
    expect(JSON.stringify(info)).not.toContain('whsec_')
    const rotated = await api.rotateOrgSecret('org_sec')
    expect(rotated.previous_secret_expires_at).not.toBeNull()
    expect(await api.revealOrgSecret('org_sec')).toEqual({ secret: rotated.secret })
    expect(await refusal(api.rotateOrgSecret('org_sec'))).toMatchObject({ code: 'SECRET_STILL_SIGNING' })
    expect(await refusal(api.rotateOrgSecret('org_none'))).toMatchObject({ code: 'NOT_FOUND' })
  })
})
