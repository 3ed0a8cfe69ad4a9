import { setTimeout as delay } from 'node:timers/promises'
import type { RawBuilder } from 'kysely'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { deleteSettled, lockCandidates, prune } from '../../src/store/prune.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Seeded } from '../helpers/settled-history.ts'
import { ago, eventId, seedEvent } from '../helpers/settled-history.ts'

// Pruning reaches across orgs, so each test has a database of its own.
let testDb: TestDb

beforeEach(async () => {
  testDb = await createTestDatabase()
})

afterEach(async () => {
  await testDb?.drop()
})

async function remaining(org: string) {
  const { rows } = await testDb.pool.query<{ events: number; deliveries: number; attempts: number }>(
    `select (select count(*) from webhooks.events where org_id = $1)::int as events,
       (select count(*) from webhooks.deliveries where org_id = $1)::int as deliveries,
       (select count(*) from webhooks.attempts where org_id = $1)::int as attempts`,
    [org],
  )
  return rows[0]
}

async function eventExists(id: string): Promise<boolean> {
  const { rowCount } = await testDb.pool.query('select 1 from webhooks.events where id = $1', [id])
  return rowCount === 1
}

describe('imtegrate-webhooks prune', () => {
  it('deletes only the history that ended before the cutoff, and counts it first with --dry-run', async () => {
    const org = 'org_prune'
    const delivered = await seedEvent(testDb, org, ago(40), [{ status: 'delivered' }])
    const dropped = await seedEvent(testDb, org, ago(40), [{ status: 'dropped' }, { status: 'delivered' }])
    const stillPending = await seedEvent(testDb, org, ago(40), [
      { status: 'delivered' },
      { status: 'pending' },
    ])
    const replayedLately = await seedEvent(testDb, org, ago(40), [{ status: 'delivered', changed: ago(1) }])
    const notFannedOut = await seedEvent(testDb, org, ago(40), [], false)
    const recent = await seedEvent(testDb, org, ago(5), [{ status: 'delivered' }])
    expect(await remaining(org)).toEqual({ events: 6, deliveries: 7, attempts: 14 })

    const dry = await runCliJson<Record<string, unknown>>(testDb, [
      'prune',
      '--older-than',
      '30d',
      '--dry-run',
    ])
    expect(dry).toMatchObject({ dry_run: true, events: 2, deliveries: 3, attempts: 6 })
    expect(await remaining(org)).toEqual({ events: 6, deliveries: 7, attempts: 14 })

    const text = await runCli(testDb, ['prune', '--older-than', '30d'])
    expect(text.code).toBe(0)
    expect(text.out).toMatch(
      /^pruned 2 events, 3 deliveries and 6 attempts whose history ended before \d{4}-/,
    )
    expect(await remaining(org)).toEqual({ events: 4, deliveries: 4, attempts: 8 })
    expect(await eventExists(delivered.event)).toBe(false)
    expect(await eventExists(dropped.event)).toBe(false)
    for (const kept of [stillPending, replayedLately, notFannedOut, recent]) {
      expect(await eventExists(kept.event)).toBe(true)
    }
    // An event kept is kept whole: its settled delivery stays with the pending one.
    const { rows } = await testDb.pool.query('select id from webhooks.deliveries where event_id = $1', [
      stillPending.event,
    ])
    expect(rows).toHaveLength(2)

    // A second run finds nothing more; a shorter window takes the recent event too.
    expect(await runCliJson(testDb, ['prune', '--older-than', '30d'])).toMatchObject({ events: 0 })
    expect(await runCliJson(testDb, ['prune', '--older-than', '2d'])).toMatchObject({
      events: 1,
      deliveries: 1,
      attempts: 2,
    })
    expect(await eventExists(recent.event)).toBe(false)
  })

  it('works through a long history in batches, each its own transaction, passing what it keeps', async () => {
    const org = 'org_prune_many'
    const kept: Seeded[] = []
    for (let i = 0; i < 30; i++) {
      // Every sixth event still has a pending delivery, spread across the batch boundaries.
      if (i % 6 === 5) {
        kept.push(await seedEvent(testDb, org, ago(60), [{ status: 'delivered' }, { status: 'pending' }]))
      } else {
        await seedEvent(testDb, org, ago(60), [{ status: 'delivered' }])
      }
    }
    const seen: number[] = []
    const counts = await prune(testDb.db, ago(30), {
      batchSize: 10,
      onBatch: (soFar) => seen.push(soFar.events),
    })
    expect(counts).toEqual({ events: 25, deliveries: 25, attempts: 50 })
    expect(seen).toEqual([10, 20, 25])
    expect(await remaining(org)).toEqual({ events: 5, deliveries: 10, attempts: 20 })
    for (const event of kept) {
      expect(await eventExists(event.event)).toBe(true)
    }
  })

  it('keeps an event set aside for an operator, however old: it was never sent', async () => {
    const org = 'org_prune_aside'
    const aside = await seedEvent(testDb, org, ago(40), [])
    await testDb.pool.query(
      `update webhooks.events set fan_out_error = 'refused by a trigger' where id = $1`,
      [aside.event],
    )
    const settled = await seedEvent(testDb, org, ago(40), [{ status: 'delivered' }])
    expect(await runCliJson(testDb, ['prune', '--older-than', '30d'])).toMatchObject({ events: 1 })
    expect(await eventExists(aside.event)).toBe(true)
    expect(await eventExists(settled.event)).toBe(false)
  })

  it('keeps an event whole when one of its deliveries is replayed while the prune runs', async () => {
    const org = 'org_prune_race'
    const racing = await seedEvent(testDb, org, ago(40), [{ status: 'dropped' }, { status: 'dropped' }])
    const other = await seedEvent(testDb, org, ago(40), [{ status: 'dropped' }])
    const replayer = await testDb.pool.connect()
    try {
      // A replay in flight: one delivery row is locked and about to become pending.
      await replayer.query('begin')
      await replayer.query(
        "update webhooks.deliveries set status = 'pending', dropped_at = null, updated_at = now() where id = $1",
        [racing.deliveries[0]],
      )
      const pruning = prune(testDb.db, ago(30))
      // The prune must be seen waiting for that lock before the replay commits.
      let waited = false
      for (let i = 0; i < 250 && !waited; i++) {
        const { rows } = await testDb.pool.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
        )
        waited = (rows[0]?.n ?? 0) > 0
        await delay(20)
      }
      expect(waited).toBe(true)
      await replayer.query('commit')
      expect(await pruning).toEqual({ events: 1, deliveries: 1, attempts: 2 })
    } finally {
      replayer.release()
    }
    expect(await eventExists(other.event)).toBe(false)
    // Whole: the replayed delivery, its settled sibling and all four attempt rows.
    expect(await eventExists(racing.event)).toBe(true)
    const { rows } = await testDb.pool.query(
      'select id, status from webhooks.deliveries where event_id = $1 order by id',
      [racing.event],
    )
    expect(rows).toHaveLength(2)
    expect(rows.find((row) => row.id === racing.deliveries[0])?.status).toBe('pending')
    expect(await remaining(org)).toEqual({ events: 1, deliveries: 2, attempts: 4 })
  })

  it('takes the idempotency key with the event: a render reported again afterwards makes a new event', async () => {
    const record = async () => {
      const { rows } = await testDb.pool.query<{ id: string | null }>(
        `select webhooks.record_render_status(org_id => 'org_prune_key', render_id => 'img_again',
           kind => 'image', status => 'completed') as id`,
      )
      return rows[0]?.id ?? null
    }
    const first = await record()
    expect(first).toMatch(/^evt_/)
    expect(await record()).toBeNull()
    // Age the event by 40 days (its id too: ids begin with their creation time), as fanned out.
    const old = ago(40)
    await testDb.pool.query(
      'update webhooks.events set id = $2, created_at = $3, fanned_out_at = $3 where id = $1',
      [first, eventId(old), old],
    )
    expect(await prune(testDb.db, ago(30))).toEqual({ events: 1, deliveries: 0, attempts: 0 })
    const again = await record()
    expect(again).toMatch(/^evt_/)
    expect(again).not.toBe(first)
  })

  it('keeps a completed collection, so reopening it and a repeated child cannot complete it twice', async () => {
    const org = 'org_prune_col'
    const open = () =>
      testDb.pool.query(
        `select webhooks.open_collection(org_id => $1, collection_id => 'col_done', child_count => 1)`,
        [org],
      )
    const child = () =>
      testDb.pool.query(
        `select webhooks.record_render_status(org_id => $1, render_id => 'img_child', kind => 'image',
           status => 'completed', collection_id => 'col_done')`,
        [org],
      )
    const completions = async () =>
      (
        await testDb.pool.query(
          `select id from webhooks.events where org_id = $1 and type = 'collection.completed'`,
          [org],
        )
      ).rowCount
    await open()
    await child()
    expect(await completions()).toBe(1)
    // Age both events by 40 days, as fanned out with nothing left to deliver.
    const old = ago(40)
    const { rows } = await testDb.pool.query<{ id: string }>(
      'select id from webhooks.events where org_id = $1',
      [org],
    )
    for (const { id } of rows) {
      const aged = eventId(old)
      await testDb.pool.query(
        'update webhooks.events set id = $2, created_at = $3, fanned_out_at = $3 where id = $1',
        [id, aged, old],
      )
      await testDb.pool.query('update webhooks.collections set event_id = $2 where event_id = $1', [id, aged])
    }
    expect(await prune(testDb.db, ago(30))).toEqual({ events: 2, deliveries: 0, attempts: 0 })
    // Regression (a change that pruned the collection's row too, caught in review): reopening
    // made a fresh collection, and the repeated child completed it a second time.
    await open()
    await expect(child()).rejects.toMatchObject({ code: '22023' })
    expect(await completions()).toBe(0)
  })

  it('reads each batch by index, not the whole deliveries table', async () => {
    // Regression: the NOT EXISTS was planned as a hash anti join over a scan of every delivery,
    // in every batch. With realistic statistics, the batch must walk events by primary key and
    // probe each one's deliveries.
    await testDb.pool.query(`
      insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
      select 'evt_' || lpad(to_hex((extract(epoch from t) * 1000)::bigint + g), 12, '0') || md5(g::text)::char(20),
        'org_plan', 'image.completed', 'img_' || g, '{}', t, t
      from generate_series(1, 20000) g,
        lateral (select now() - case when g <= 5000 then interval '40 days' else interval '1 day' end as t) x;
      insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, created_at, updated_at)
      select 'dlv_' || md5(id), id, org_id, 'render_url', 'http://127.0.0.1:9/r', 'delivered', created_at, created_at
      from webhooks.events where org_id = 'org_plan';
      analyze webhooks.events; analyze webhooks.deliveries`)
    type PlanNode = {
      'Node Type': string
      'Relation Name'?: string
      'Subplan Name'?: string
      Plans?: PlanNode[]
    }
    const planOf = async (statement: RawBuilder<unknown>) => {
      const { rows } = await sql<{
        'QUERY PLAN': Array<{ Plan: PlanNode }>
      }>`explain (format json) ${statement}`.execute(testDb.db)
      return rows[0]?.['QUERY PLAN'][0]?.Plan
    }
    const find = (node: PlanNode | undefined, name: string): PlanNode | undefined =>
      node === undefined || node['Subplan Name'] === name
        ? node
        : (node.Plans ?? []).map((child) => find(child, name)).find((n) => n !== undefined)
    const scans = (node: PlanNode | undefined): string[] =>
      node === undefined
        ? ['no plan']
        : [
            ...(node['Relation Name'] === undefined
              ? []
              : [`${node['Node Type']} on ${node['Relation Name']}`]),
            ...(node.Plans ?? []).flatMap(scans),
          ]
    const probes = ['Index Scan on events', 'Index Scan on deliveries']
    expect(scans(await planOf(lockCandidates('', ago(30), 1000)))).toEqual(probes)
    // The deletes' joins are chosen by table size (these small tables may be read whole); the
    // check of which events are still settled must probe by index whatever the size.
    const { rows } = await testDb.pool.query<{ id: string }>(
      "select id from webhooks.events where org_id = 'org_plan' order by id limit 1000",
    )
    const settled = find(
      await planOf(
        deleteSettled(
          rows.map((row) => row.id),
          ago(30),
        ),
      ),
      'CTE settled',
    )
    expect(scans(settled)).toEqual(probes)
  })

  it('refuses a missing, malformed or out-of-range --older-than, or extra arguments, with its usage', async () => {
    for (const [args, message] of [
      [[], '--older-than is required'],
      [['--older-than', 'soon'], '--older-than must be a duration (30d, 720h), got "soon"'],
      [['--older-than', '10m'], '--older-than must be between 1h and 36500d, got "10m"'],
      [['--older-than', '200000000d'], '--older-than must be between 1h and 36500d, got "200000000d"'],
      [['--older-than', '30d', 'extra'], "Unexpected argument 'extra'"],
    ] as const) {
      const result = await runCli(testDb, ['prune', ...args])
      expect(result.code).toBe(2)
      expect(result.err).toContain(message)
      expect(result.err).toContain('usage: imtegrate-webhooks prune --older-than AGE')
    }
  })
})
