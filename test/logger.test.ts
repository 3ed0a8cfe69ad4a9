import { Writable } from 'node:stream'
import { makeWorkerUtils, runOnce } from 'graphile-worker'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createLogger,
  prettyDestination,
  wantsPrettyLog,
  workerLineLevel,
  workerLogger,
} from '../src/logger.ts'
import type { TestDb } from './helpers/database.ts'
import { createTestDatabase } from './helpers/database.ts'

describe('the log format', () => {
  it.each([
    [true, 'development', true],
    [true, 'test', true],
    [true, 'production', false],
    [false, 'development', false],
    [undefined, 'development', false],
  ])('a terminal %s in %s is pretty: %s', (isTTY, nodeEnv, pretty) => {
    expect(wantsPrettyLog(isTTY === undefined ? {} : { isTTY }, nodeEnv)).toBe(pretty)
  })

  it('pretty-prints the same lines, with their fields, for a person', async () => {
    let written = ''
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString('utf8')
        done()
      },
    })
    const logger = createLogger('info', await prettyDestination(terminal))
    logger.info({ deliveryId: 'dlv_1', attempt: 2 }, 'delivery attempt')
    await vi.waitFor(() => expect(written).toContain('delivery attempt'))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the colours are ANSI escapes
    const plain = written.replace(/\u001b\[\d+m/g, '')
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: delivery attempt\n/)
    expect(plain).toContain('deliveryId: "dlv_1"')
    expect(plain).toContain('attempt: 2')
    expect(plain).not.toContain('{"level"')
  })
})

describe("graphile-worker's lines", () => {
  it.each<[Parameters<typeof workerLineLevel>[0], Record<string, unknown> | undefined, string]>([
    ['info', { success: true, job: { task_identifier: 'reconcile' } }, 'debug'],
    ['info', { success: true, job: { task_identifier: 'prune' } }, 'info'],
    ['error', { failure: true, job: { task_identifier: 'reconcile' } }, 'error'],
    ['info', undefined, 'info'],
    ['warning', {}, 'warn'],
    ['debug', {}, 'debug'],
  ])('%s %j goes out at %s', (level, meta, expected) => {
    expect(workerLineLevel(level, meta)).toBe(expected)
  })

  let testDb: TestDb
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(async () => {
    await testDb?.drop()
  })

  /** Runs one `task` job through graphile-worker with our adapter; returns the lines at `level`. */
  async function runJob(task: string, level: string): Promise<Array<{ level: number; msg: string }>> {
    const lines: Array<{ level: number; msg: string }> = []
    const logger = createLogger(level, { write: (line: string) => lines.push(JSON.parse(line)) })
    const utils = await makeWorkerUtils({ pgPool: testDb.pool, logger: workerLogger(logger) })
    try {
      await utils.addJob(task, {})
    } finally {
      await utils.release()
    }
    await runOnce({
      pgPool: testDb.pool,
      logger: workerLogger(logger),
      taskList: { [task]: async () => undefined },
    })
    return lines
  }

  it("keeps the minutely reconciler's per-job line out of an info log, and in a debug one", async () => {
    const atInfo = await runJob('reconcile', 'info')
    expect(atInfo.filter((line) => line.msg.startsWith('Completed task'))).toEqual([])
    const atDebug = await runJob('reconcile', 'debug')
    expect(atDebug.filter((line) => line.msg.startsWith('Completed task')).map((line) => line.level)).toEqual(
      [20],
    )
  })

  it("keeps other tasks' per-job lines at info", async () => {
    const atInfo = await runJob('prune', 'info')
    expect(atInfo.filter((line) => line.msg.startsWith('Completed task')).map((line) => line.level)).toEqual([
      30,
    ])
  })
})

describe('a database error in the log', () => {
  it('names the functions it was raised in, without the text of their statements', () => {
    let written = ''
    const logger = createLogger('info', {
      write: (line: string) => {
        written += line
      },
    })
    const error = Object.assign(new Error('attempt refused'), {
      code: 'P0001',
      where: [
        'PL/pgSQL function public.refuse() line 2 at RAISE',
        `SQL statement "with given as (\n  select * from unnest(delivery_ids)${' x'.repeat(3_000)})"`,
        'PL/pgSQL function webhooks.record_outcomes(text[]) line 8 at RETURN QUERY',
      ].join('\n'),
    })
    logger.error({ err: error }, 'could not record attempts')
    const { err } = JSON.parse(written) as { err: { where: string; code: string; message: string } }
    expect(err).toMatchObject({ code: 'P0001', message: 'attempt refused' })
    expect(err.where).toBe(
      'PL/pgSQL function public.refuse() line 2 at RAISE\nPL/pgSQL function webhooks.record_outcomes(text[]) line 8 at RETURN QUERY',
    )
  })
})
