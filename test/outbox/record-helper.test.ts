import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RenderStatusChange } from '../../src/outbox/record.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await testDb?.drop()
})

const change = (renderId: string): RenderStatusChange => ({
  orgId: 'org_1',
  renderId,
  kind: 'video',
  status: 'completed',
  resultUrl: 'https://storage.example/v.mp4',
})

const eventCount = async (renderId: string) =>
  (
    await sql<{
      n: number
    }>`select count(*)::int as n from webhooks.events where subject_id = ${renderId}`.execute(testDb.db)
  ).rows[0]?.n

describe('recordRenderStatus', () => {
  it('records inside a kysely transaction and returns the event id', async () => {
    const id = await testDb.db.transaction().execute((trx) => recordRenderStatus(trx, change('vid_k')))
    expect(id).toMatch(/^evt_/)
    expect(await eventCount('vid_k')).toBe(1)
  })

  it('records with a pg client inside BEGIN, and a ROLLBACK takes the event with it', async () => {
    const client = await testDb.pool.connect()
    try {
      await client.query('begin')
      expect(await recordRenderStatus(client, change('vid_rolled'))).toMatch(/^evt_/)
      await client.query('rollback')
      await client.query('begin')
      expect(await recordRenderStatus(client, change('vid_committed'))).toMatch(/^evt_/)
      await client.query('commit')
    } finally {
      client.release()
    }
    expect(await eventCount('vid_rolled')).toBe(0)
    expect(await eventCount('vid_committed')).toBe(1)
  })

  it('sees BEGIN and COMMIT a pg client has queued but not yet sent', async () => {
    // Regression: reading the status of the client's last answer (getTransactionStatus) refused a
    // call queued behind BEGIN, and let one queued behind COMMIT record outside any transaction.
    const client = await testDb.pool.connect()
    try {
      await client.query('select 1')
      const begin = client.query('begin')
      const inside = recordRenderStatus(client, change('vid_queued_begin'))
      await begin
      expect(await inside).toMatch(/^evt_/)
      const commit = client.query('commit')
      const after = recordRenderStatus(client, change('vid_queued_commit'))
      await commit
      await expect(after).rejects.toMatchObject({ code: 'NOT_IN_TRANSACTION' })
    } finally {
      // Leaves no transaction open for the next user of the pooled client, whatever failed.
      await client.query('rollback')
      client.release()
    }
    expect(await eventCount('vid_queued_begin')).toBe(1)
    expect(await eventCount('vid_queued_commit')).toBe(0)
  })

  it('checks the transaction in the statement that writes: a ROLLBACK queued after the call takes the event', async () => {
    // Regression: the check (LOCK TABLE) was awaited before the write was queued, so a ROLLBACK
    // the caller queued meanwhile ran between them and the event committed on its own.
    const client = await testDb.pool.connect()
    try {
      await client.query('begin')
      const call = recordRenderStatus(client, change('vid_queued_rollback'))
      const rollback = client.query('rollback')
      expect(await call).toMatch(/^evt_/)
      await rollback
    } finally {
      client.release()
    }
    expect(await eventCount('vid_queued_rollback')).toBe(0)
  })

  it('refuses a pg client outside a transaction and writes nothing', async () => {
    const client = await testDb.pool.connect()
    try {
      await expect(recordRenderStatus(client, change('vid_autocommit'))).rejects.toMatchObject({
        code: 'NOT_IN_TRANSACTION',
      })
    } finally {
      client.release()
    }
    expect(await eventCount('vid_autocommit')).toBe(0)
  })

  it('is not fooled by a session that set the transaction mark itself', async () => {
    const client = await testDb.pool.connect()
    try {
      await client.query(`set webhooks.recorder_in_transaction = 'on'`)
      await expect(recordRenderStatus(client, change('vid_marked_session'))).rejects.toMatchObject({
        code: 'NOT_IN_TRANSACTION',
      })
    } finally {
      await client.query('reset webhooks.recorder_in_transaction')
      client.release()
    }
    expect(await eventCount('vid_marked_session')).toBe(0)
  })

  // Regression: 3210.5 raised 22P02 and 2**31 raised 22003, naming no argument and aborting the
  // caller's transaction; a duration from performance.now() arithmetic is rarely whole.
  it('rounds a fractional durationMs to whole milliseconds', async () => {
    await testDb.db
      .transaction()
      .execute((trx) => recordRenderStatus(trx, { ...change('vid_frac'), durationMs: 3210.5 }))
    const { rows } = await sql<{ duration: number }>`
      select (data->>'duration_ms')::int as duration from webhooks.events where subject_id = 'vid_frac'`.execute(
      testDb.db,
    )
    expect(rows).toEqual([{ duration: 3211 }])
  })

  it.each([Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    'refuses durationMs %s before sending anything, leaving the transaction usable',
    async (durationMs) => {
      const used = await testDb.db.transaction().execute(async (trx) => {
        await expect(recordRenderStatus(trx, { ...change('vid_bad'), durationMs })).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringMatching(/^durationMs must be a finite number of milliseconds/),
        })
        return (await sql<{ one: number }>`select 1 as one`.execute(trx)).rows[0]?.one
      })
      expect(used).toBe(1)
      expect(await eventCount('vid_bad')).toBe(0)
    },
  )

  it('passes the render error through to the failed event', async () => {
    const id = await testDb.db.transaction().execute((trx) =>
      recordRenderStatus(trx, {
        ...change('vid_failed'),
        status: 'failed',
        resultUrl: null,
        error: { code: 'font_missing', message: 'Font "Inter" is not installed' },
      }),
    )
    const row = await testDb.db
      .selectFrom('webhooks.events')
      .select(['type', 'data'])
      .where('id', '=', id as string)
      .executeTakeFirstOrThrow()
    expect(row).toEqual({
      type: 'video.failed',
      data: {
        id: 'vid_failed',
        status: 'failed',
        result_url: null,
        template_id: null,
        duration_ms: null,
        error: { code: 'font_missing', message: 'Font "Inter" is not installed' },
      },
    })
  })

  it('refuses a plain Kysely passed anyway (cast, or from JavaScript) and writes nothing', async () => {
    await expect(recordRenderStatus(testDb.db as never, change('vid_plain'))).rejects.toMatchObject({
      code: 'NOT_IN_TRANSACTION',
    })
    expect(await eventCount('vid_plain')).toBe(0)
  })

  it('is a type error with a Kysely that is not a transaction (checked by tsc)', () => {
    const outsideTransaction = () =>
      // @ts-expect-error: the outbox write must share the caller's transaction
      recordRenderStatus(testDb.db, change('never'))
    expect(outsideTransaction).toBeTypeOf('function')
  })
})

describe('the SQL functions called as the contract shows', () => {
  it('accept the named arguments of the contract', async () => {
    await sql`select webhooks.open_collection(org_id => 'org_1', collection_id => 'col_doc',
      child_count => 20, template_id => 'tpl_abc', webhook_url => null)`.execute(testDb.db)
    const { rows } = await sql<{ id: string | null }>`select webhooks.record_render_status(
      org_id => 'org_1', render_id => 'img_xyz', kind => 'image', status => 'completed',
      template_id => 'tpl_abc', result_url => 'https://storage.imtegrate.com/x.png', duration_ms => 3210,
      webhook_url => 'https://your.app/hooks/imtegrate', collection_id => 'col_doc', error => null) as id`.execute(
      testDb.db,
    )
    expect(rows[0]?.id).toMatch(/^evt_/)
    const collection = await sql<{ completed: number }>`select completed from webhooks.collections
      where id = 'col_doc'`.execute(testDb.db)
    expect(collection.rows[0]?.completed).toBe(1)
  })
})
