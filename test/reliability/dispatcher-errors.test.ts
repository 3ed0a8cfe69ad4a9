import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { statementFault } from '../../src/store/faults.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { backlog, endpointAt } from '../helpers/load.ts'
import { logged, othersDeliveredOnce, startWorker, useScenes } from './poison.ts'

// The dispatcher's loop says what made a round fail: the database out of reach, or a statement
// PostgreSQL refused (an old worker during an upgrade meets a schema it does not know), with its
// SQLSTATE.

const REACH = 'dispatcher could not reach the database; retrying'

describe('what counts as a statement PostgreSQL refused', () => {
  let testDb: TestDb
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(async () => {
    await testDb.drop()
  })

  it('is an error PostgreSQL raised, with its SQLSTATE, unless it ends the session', async () => {
    const refused = await testDb.pool
      .query('select no_such_column from webhooks.events')
      .catch((e: unknown) => e)
    expect(statementFault(refused)).toBe('42703')
    const shutdown = Object.assign(
      new pg.DatabaseError('terminating connection due to administrator command', 0, 'error'),
      {
        code: '57P01',
      },
    )
    const cannotConnect = Object.assign(new pg.DatabaseError('connection failure', 0, 'error'), {
      code: '08006',
    })
    expect(statementFault(shutdown)).toBeUndefined()
    expect(statementFault(cannotConnect)).toBeUndefined()
    expect(statementFault(new Error('Connection terminated unexpectedly'))).toBeUndefined()
    expect(statementFault(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBeUndefined()
    expect(
      statementFault(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined()
  })
})

const scene = useScenes()

describe('a dispatcher whose statement PostgreSQL refuses', () => {
  it('logs the statement failed, with its code, not that the database is out of reach, and goes on once it is fixed', async () => {
    const s = await scene()
    await endpointAt(s.testDb, 'org_1', s.receiver.url('/events'))
    const worker = await startWorker(s.testDb)
    // As an upgrade would under a worker of the version before: a function it calls is gone.
    await s.testDb.pool.query('alter function webhooks.fan_out(integer, text[]) rename to fan_out_renamed')
    const failed = () =>
      logged(
        worker,
        "dispatcher's statement failed: function webhooks.fan_out(integer, text[]) does not exist (42883); retrying",
      )
    await vi.waitFor(() => expect(failed().length).toBeGreaterThan(0), { timeout: 10_000, interval: 50 })
    expect(failed()[0]).toMatchObject({ code: '42883', err: expect.objectContaining({ code: '42883' }) })
    expect(logged(worker, REACH)).toEqual([])

    await s.testDb.pool.query('alter function webhooks.fan_out_renamed(integer, text[]) rename to fan_out')
    await backlog(s.testDb, 'org_1', 3)
    await vi.waitFor(async () => expect(await othersDeliveredOnce(s.testDb, s.receiver, '')).toBe(3), {
      timeout: 10_000,
      interval: 100,
    })
    expect(logged(worker, REACH)).toEqual([])
  }, 60_000)
})
