import { afterAll, beforeAll } from 'vitest'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import type { TestDb } from './database.ts'
import { createTestDatabase } from './database.ts'
import type { Received, Receiver } from './receiver.ts'
import { startReceiver } from './receiver.ts'
import { startTestWorker } from './worker.ts'

/** A test database, a real receiver and a running worker, shared by the tests of one file. */
export type DeliveryStack = {
  readonly testDb: TestDb
  readonly receiver: Receiver
  readonly worker: WorkerHandle
  /** The requests that reached `path`, in arrival order. */
  arrivals(path: string): Received[]
}

/**
 * Starts the stack in beforeAll (after `seed`, before the worker, so the worker never sees a
 * half-seeded database) and tears it down in afterAll. Read its fields inside tests and hooks.
 */
export function useDeliveryStack(
  env: Record<string, string> = {},
  seed?: (testDb: TestDb) => Promise<void>,
): DeliveryStack {
  let testDb: TestDb | undefined
  let receiver: Receiver | undefined
  let worker: WorkerHandle | undefined
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error('the delivery stack is used outside the tests of its file')
    }
    return value
  }
  beforeAll(async () => {
    testDb = await createTestDatabase()
    receiver = await startReceiver()
    await seed?.(testDb)
    worker = await startTestWorker(testDb, env)
  })
  afterAll(async () => {
    await worker?.stop()
    await receiver?.close()
    await testDb?.drop()
  })
  return {
    get testDb() {
      return need(testDb)
    },
    get receiver() {
      return need(receiver)
    },
    get worker() {
      return need(worker)
    },
    arrivals: (path) => need(receiver).requests.filter((r) => r.path === path),
  }
}
