import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { startWorker } from '../../src/worker/runner.ts'
import type { TestDb } from './database.ts'

/** A real worker against a test database, allowed to reach 127.0.0.1, with quick settings. */
export async function startTestWorker(
  testDb: TestDb,
  env: Record<string, string> = {},
): Promise<WorkerHandle> {
  const config = loadConfig({
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_RETRY_SCHEDULE: '100ms,100ms,100ms',
    WEBHOOK_REQUEST_TIMEOUT: '500ms',
    WEBHOOK_SHUTDOWN_TIMEOUT: '1s',
    WEBHOOK_POLL_INTERVAL: '100ms',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    ...env,
  })
  return startWorker({ ...config, databaseUrl: testDb.url }, createLogger(config.logLevel))
}
