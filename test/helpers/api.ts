import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import { createWebhooksApi } from '../../src/api/webhooks-api.ts'
import type { WebhookError } from '../../src/errors.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import type { TestDb } from './database.ts'

export const TEST_KEY = Buffer.alloc(32, 7).toString('base64')

/** The TypeScript API over a test database, sealing secrets under TEST_KEY. */
export function testApi(testDb: Pick<TestDb, 'db'>, rotationGraceMs = 86_400_000): WebhooksApi {
  return createWebhooksApi({ db: testDb.db, box: createSecretBox(TEST_KEY), rotationGraceMs })
}

/** What `promise` was rejected with, as a WebhookError's code, field and message. */
export async function refusal(
  promise: Promise<unknown>,
): Promise<Pick<WebhookError, 'code' | 'field' | 'message'>> {
  try {
    await promise
  } catch (error) {
    const { code, field, message } = error as WebhookError
    return { code, field, message }
  }
  throw new Error('expected a refusal, but the call succeeded')
}
