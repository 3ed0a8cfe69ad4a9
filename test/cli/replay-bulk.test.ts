import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Io } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import { replay } from '../../src/store/replay.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { enqueue } from '../helpers/queue.ts'

// No worker runs here: replayed deliveries stay pending, so what a replay changed can be counted.

let testDb: TestDb

beforeAll(async () => {
  testDb = await createTestDatabase()
  await testDb.pool.query(`
    insert into webhooks.org_secrets (org_id, secret) values ('org_s', 'whsec_x');
    insert into webhooks.endpoints (id, org_id, url, secret, enabled, deleted_at) values
      ('ep_bulk', 'org_bulk', 'http://127.0.0.1:9/bulk', 'whsec_x', true, null),
      ('ep_off', 'org_bulk', 'http://127.0.0.1:9/off', 'whsec_x', false, null),
      ('ep_gone', 'org_bulk', 'http://127.0.0.1:9/gone', 'whsec_x', true, now()),
      ('ep_int', 'org_int', 'http://127.0.0.1:9/int', 'whsec_x', true, null)`)
})

afterAll(async () => {
  await testDb?.drop()
})

/** `count` events of `org`, each with one delivery to `endpoint` in `status`: written as SQL, not sent. */
async function seed(org: string, endpoint: string | null, status: string, count: number): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    with e as (
      insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at, fanned_out_at)
      select webhooks.new_id('evt'), ${org}, 'image.completed', webhooks.new_id('img'), 'http://127.0.0.1:9/r', '{}', now(), now()
      from generate_series(1, ${count}) g
      returning id
    )
    insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url, status, attempts,
      failures, last_error, dropped_at)
    select webhooks.new_id('dlv'), e.id, ${org}, coalesce(${endpoint}, 'render_url'), ${endpoint},
      'http://127.0.0.1:9/x', ${status}, 4, 4, 'http_500: the receiver answered 500',
      case when ${status} = 'dropped' then now() end
    from e
    returning id`.execute(testDb.db)
  if (status === 'pending') {
    await enqueue(
      testDb.db,
      rows.map((row) => row.id),
    )
  }
}

async function statusCounts(org: string) {
  const { rows } = await sql<{ status: string; replays: number; failures: number; n: number }>`
    select status, replays, failures, count(*)::int as n from webhooks.deliveries
    where org_id = ${org} group by 1, 2, 3 order by 1, 2, 3`.execute(testDb.db)
  return rows
}

const bulk = ['replay', '--org', 'org_bulk', '--status', 'dropped']

describe('a bulk replay of 10,000 dropped deliveries', () => {
  it('is previewed by --dry-run without changing anything, then replays each once', async () => {
    await seed('org_bulk', 'ep_bulk', 'dropped', 10_000)
    await seed('org_bulk', 'ep_off', 'dropped', 3)
    await seed('org_bulk', 'ep_gone', 'dropped', 2)
    await seed('org_bulk', 'ep_bulk', 'delivered', 5)
    const before = await statusCounts('org_bulk')

    const preview = await runCliJson<Record<string, unknown> & { deliveries: Array<{ action: string }> }>(
      testDb,
      [...bulk, '--dry-run'],
    )
    expect(preview).toMatchObject({ dry_run: true, matched: 10_005, would_replay: 10_000, skipped: 5 })
    expect(preview['skipped_by']).toEqual({ in_progress: 0, destination_inactive: 5 })
    expect(preview.deliveries.filter((d) => d.action === 'replay')).toHaveLength(10_000)
    expect(await statusCounts('org_bulk')).toEqual(before)

    const text = await runCli(testDb, [...bulk, '--dry-run', '--since', '1h'])
    expect(text.out.split('\n')).toHaveLength(1 + 10_005 + 1)
    expect(text.out).toMatch(
      /^dry run: would replay 10000 of 10005 matched deliveries \(5 skipped: .*\); nothing changed$/m,
    )

    expect(await runCliJson(testDb, bulk)).toEqual({
      matched: 10_005,
      replayed: 10_000,
      skipped: 5,
      skipped_by: { in_progress: 0, destination_inactive: 5 },
    })
    expect(await statusCounts('org_bulk')).toEqual([
      { status: 'delivered', replays: 0, failures: 4, n: 5 },
      { status: 'dropped', replays: 0, failures: 4, n: 5 },
      { status: 'pending', replays: 1, failures: 0, n: 10_000 },
    ])
    // Each replayed delivery is queued, due now, not leased, and no longer marked dropped.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from webhooks.deliveries d
      left join webhooks.delivery_queue q on q.delivery_id = d.id
      where d.status = 'pending'
        and (q.delivery_id is null or q.due_at > now() or q.leased or d.dropped_at is not null)`.execute(
      testDb.db,
    )
    expect(rows[0]?.n).toBe(0)
  })

  it('run again replays nothing more', async () => {
    expect(await runCliJson(testDb, bulk)).toMatchObject({ matched: 5, replayed: 0, skipped: 5 })
    expect(await statusCounts('org_bulk')).toContainEqual({
      status: 'pending',
      replays: 1,
      failures: 0,
      n: 10_000,
    })
  })
})

describe('an interrupted bulk replay', () => {
  it('run again replays only what is still dropped, none twice, with a progress bar on a terminal', async () => {
    await seed('org_int', 'ep_int', 'dropped', 1_200)
    const interruption = new Error('interrupted')
    const selector = { by: 'org', orgId: 'org_int' } as const
    const run = replay(testDb.db, selector, {
      batchSize: 500,
      onBatch(_batch, _replayed, soFar) {
        if (soFar.matched >= 500) {
          throw interruption
        }
      },
    })
    await expect(run).rejects.toBe(interruption)
    expect(await statusCounts('org_int')).toEqual([
      { status: 'dropped', replays: 0, failures: 4, n: 700 },
      { status: 'pending', replays: 1, failures: 0, n: 500 },
    ])

    const err: string[] = []
    const out: string[] = []
    const io: Io = {
      out: (text) => out.push(text),
      err: (text) => err.push(text),
      env: { DATABASE_URL: testDb.url },
      isTTY: true,
    }
    expect(await main(['replay', '--org', 'org_int', '--status', 'dropped'], io)).toBe(0)
    expect(out).toEqual(['replayed 700 of 700 matched deliveries'])
    // The second update moves the cursor up a line and clears it, redrawing the bar in place.
    expect(err).toEqual([
      `replayed 500/700 [${'='.repeat(21)}>${' '.repeat(8)}]`,
      `\x1b[1A\x1b[2Kreplayed 700/700 [${'='.repeat(30)}]`,
    ])
    expect(await statusCounts('org_int')).toEqual([{ status: 'pending', replays: 1, failures: 0, n: 1_200 }])
  })
})

async function idsOf(org: string, status: string): Promise<string[]> {
  const rows = await testDb.db
    .selectFrom('webhooks.deliveries')
    .select('id')
    .where('org_id', '=', org)
    .where('status', '=', status as 'pending')
    .orderBy('id')
    .execute()
  return rows.map((row) => row.id)
}

describe('replay of one delivery', () => {
  it('sends a delivered one again, but never starts a second retry chain for a pending one', async () => {
    await seed('org_s', null, 'delivered', 1)
    await seed('org_s', null, 'pending', 1)
    const [delivered] = await idsOf('org_s', 'delivered')
    const [pending] = await idsOf('org_s', 'pending')
    const resent = await runCli(testDb, ['replay', '--delivery', delivered as string])
    expect(resent).toMatchObject({ code: 0, out: 'replayed 1 of 1 matched deliveries' })
    const skipped = await runCli(testDb, ['replay', '--delivery', pending as string])
    expect(skipped).toMatchObject({
      code: 0,
      out: 'replayed 0 of 1 matched deliveries (1 skipped: 1 already pending)',
    })
    expect(await statusCounts('org_s')).toEqual([
      { status: 'pending', replays: 0, failures: 4, n: 1 },
      { status: 'pending', replays: 1, failures: 0, n: 1 },
    ])
  })

  it('is refused when its destination could not receive it', async () => {
    await seed('org_nosecret', null, 'dropped', 1)
    const [toRenderUrl] = await idsOf('org_nosecret', 'dropped')
    const refused = await runCli(testDb, ['replay', '--delivery', toRenderUrl as string])
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('org org_nosecret has no render-webhook secret; create one first')
    const { rows } = await sql<{ id: string; endpoint_id: string }>`
      select distinct on (endpoint_id) id, endpoint_id from webhooks.deliveries
      where endpoint_id in ('ep_off', 'ep_gone') and status = 'dropped' order by endpoint_id, id`.execute(
      testDb.db,
    )
    const messages = await Promise.all(
      rows.map(async (row) => (await runCli(testDb, ['replay', '--delivery', row.id])).err),
    )
    expect(messages).toEqual([
      expect.stringMatching(/endpoint ep_gone was deleted; its deliveries cannot be replayed$/),
      expect.stringMatching(
        /endpoint ep_off is disabled, .*enable it first \(imtegrate-webhooks endpoints enable ep_off\)$/,
      ),
    ])
  })
})

describe('replay arguments', () => {
  it.each([
    [['--endpoint', 'ep_nope', '--status', 'dropped'], 'error: no endpoint ep_nope'],
    [['--endpoint', 'ep_off', '--status', 'dropped'], 'error: endpoint ep_off is disabled'],
    [['--endpoint', 'ep_gone', '--status', 'dropped'], 'error: endpoint ep_gone was deleted'],
    [['--org', 'org_nope', '--status', 'dropped'], 'error: no org org_nope'],
    [['--event', 'evt_nope'], 'error: no event evt_nope'],
    [['--delivery', 'dlv_nope', '--dry-run'], 'error: no delivery dlv_nope'],
  ])('exit 1 for unknown or unusable targets: %j', async (args, message) => {
    const result = await runCli(testDb, ['replay', ...args])
    expect(result.code).toBe(1)
    expect(result.err).toMatch(new RegExp(`^${message.replace(/[.()]/g, '\\$&')}`))
  })

  it.each([
    [[], 'give one of --delivery, --event, --endpoint or --org'],
    [['--delivery', 'a', '--event', 'b'], '--delivery and --event cannot be combined'],
    [['--endpoint', 'a', '--org', 'b', '--status', 'dropped'], '--endpoint and --org cannot be combined'],
    [['--org', 'org_bulk'], '--status dropped is required'],
    [['--org', 'org_bulk', '--status', 'pending'], 'only dropped deliveries are replayed in bulk'],
    [
      ['--delivery', 'a', '--status', 'dropped'],
      '--status, --since and --until go with --endpoint or --org only',
    ],
    [['--org', 'org_bulk', '--status', 'dropped', '--since', 'monday'], '--since must be an ISO timestamp'],
    [
      ['--org', 'org_bulk', '--status', 'dropped', '--since', '1h', '--until', '2h'],
      '--since must be before --until',
    ],
  ])('exit 2 with usage for conflicting or missing selectors: %j', async (args, message) => {
    const result = await runCli(testDb, ['replay', ...args])
    expect(result.code).toBe(2)
    expect(result.err).toContain(message)
    expect(result.err).toContain('usage: imtegrate-webhooks replay')
  })
})
