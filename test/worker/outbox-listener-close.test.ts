import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { OutboxListener } from '../../src/worker/outbox-listener.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(async () => {
  await testDb?.drop()
})

describe('OutboxListener.close()', () => {
  it('is not followed by a second release when the server ends the connection just after', async () => {
    // Regression: close() released the client directly, then the server's goodbye (57P01, as at
    // a database shutdown) reached the error handler, which released it again: pg-pool threw
    // "Release called on client which has already been released", uncaught, and the worker died.
    const pool = new pg.Pool({ connectionString: testDb.url, max: 2 })
    pool.on('error', () => undefined)
    let wakes = 0
    const listener = new OutboxListener(pool, createLogger('silent'), () => wakes++, 2_000)
    await listener.ensure()
    // pg's internals: the one client the listener holds, and its socket.
    const client = (pool as unknown as { _clients: pg.Client[] })._clients[0] as pg.Client
    const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream
    const pid = (client as unknown as { processID: number }).processID
    // The goodbye is read only after close(), as when it races the shutdown.
    socket.pause()
    await testDb.pool.query('select pg_terminate_backend($1)', [pid])
    await sleep(100)
    const uncaught: Error[] = []
    const onUncaught = (error: Error) => uncaught.push(error)
    process.on('uncaughtException', onUncaught)
    try {
      listener.close()
      socket.resume()
      await sleep(300)
    } finally {
      process.off('uncaughtException', onUncaught)
    }
    expect(uncaught.map((error) => error.message)).toEqual([])
    expect(wakes).toBe(0)
    await pool.end()
  })
})
