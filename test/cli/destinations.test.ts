import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DestinationStatus } from '../../src/store/destinations.ts'
import { runCli, runCliJson } from '../helpers/cli.ts'
import type { TestDb } from '../helpers/database.ts'
import { createDatabaseWithEvent } from '../helpers/database.ts'
import { enqueue } from '../helpers/queue.ts'

let testDb: TestDb

beforeAll(async () => {
  testDb = await createDatabaseWithEvent('evt_dest')
  // org_1: a render URL origin with one delivery leased, two due and one waiting for a retry;
  // org_2: an endpoint backing off, with one delivery due.
  await sql`insert into webhooks.endpoints (id, org_id, url, secret, max_in_flight, rate_limit)
    values ('ep_down', 'org_2', 'https://down.example/h', 'whsec_x', 2, 5)`.execute(testDb.db)
  await sql`insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
    select 'dlv_d' || i, 'evt_dest', case when i = 5 then 'org_2' else 'org_1' end,
      case when i = 5 then 'ep_down' else 'd' || i end, case when i = 5 then 'ep_down' end,
      case when i = 5 then 'https://down.example/h' else 'http://busy.example:8080/x' || i end
    from generate_series(1, 5) i`.execute(testDb.db)
  await enqueue(testDb.db, ['dlv_d1'], { leased: true, until: new Date(Date.now() + 60_000) })
  await enqueue(testDb.db, ['dlv_d2', 'dlv_d3', 'dlv_d5'], { dueAt: new Date(Date.now() - 1_000) })
  await enqueue(testDb.db, ['dlv_d4'], { dueAt: new Date(Date.now() + 60_000) })
  await sql`update webhooks.destinations set backoff_since = now() - interval '5 minutes',
      backoff_until = now() + interval '30 seconds', last_error = 'timeout: no complete answer within 10000ms'
    where endpoint_id = 'ep_down'`.execute(testDb.db)
})

afterAll(async () => {
  await testDb?.drop()
})

describe('imtegrate-webhooks destinations list', () => {
  it('shows each destination in flight, due and waiting, backing off ones first', async () => {
    const listed = await runCliJson<DestinationStatus[]>(testDb, ['destinations', 'list'])
    expect(listed).toEqual([
      expect.objectContaining({
        org_id: 'org_2',
        endpoint_id: 'ep_down',
        target: 'https://down.example/h',
        max_in_flight: 2,
        rate_limit: 5,
        state: 'backing_off',
        in_flight: 0,
        due: 1,
        waiting: 0,
        last_error: 'timeout: no complete answer within 10000ms',
      }),
      expect.objectContaining({
        org_id: 'org_1',
        endpoint_id: null,
        target: 'http://busy.example:8080',
        state: 'healthy',
        in_flight: 1,
        due: 2,
        waiting: 1,
      }),
    ])
    const table = await runCli(testDb, ['destinations', 'list', '--org', 'org_1'])
    expect(table.code).toBe(0)
    expect(table.out.split('\n')).toHaveLength(2)
    expect(table.out).toMatch(/http:\/\/busy\.example:8080\s+org_1\s+1\s+2\s+1\s+default in flight\s+healthy/)
    const down = await runCli(testDb, ['destinations', 'list', '--backing-off'])
    expect(down.out).toMatch(/ep_down\s+org_2\s+0\s+1\s+0\s+2 in flight, 5\/s\s+backing off until /)
    expect(down.out).not.toContain('busy.example')
  })

  it('refuses an unknown action or flag with usage, exit 2', async () => {
    expect((await runCli(testDb, ['destinations', 'show'])).code).toBe(2)
    expect((await runCli(testDb, ['destinations', 'list', '--bogus'])).code).toBe(2)
  })
})
