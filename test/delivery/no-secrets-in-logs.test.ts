import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import type { WorkerHandle } from '../../src/worker/runner.ts'
import { startWorker } from '../../src/worker/runner.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { deliveryOf } from '../reliability/fixtures.ts'

const KEY = randomBytes(32).toString('base64')
const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const SEALED = createSecretBox(KEY).seal(SECRET)
/** Appears only in event payloads: if it shows up in the log, a body was logged. */
const MARKER = `payload-marker-${randomBytes(8).toString('hex')}`

let testDb: TestDb
let receiver: Receiver
let worker: WorkerHandle
let log = ''

beforeAll(async () => {
  testDb = await createTestDatabase()
  receiver = await startReceiver()
  await testDb.db.insertInto('webhooks.org_secrets').values({ org_id: 'org_1', secret: SEALED }).execute()
  const config = loadConfig({
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
    WEBHOOK_REQUEST_TIMEOUT: '500ms',
    WEBHOOK_POLL_INTERVAL: '100ms',
    WEBHOOK_SECRETS_KEY: KEY,
  })
  const logger = createLogger('trace', {
    write: (line: string) => {
      log += line
    },
  })
  worker = await startWorker({ ...config, databaseUrl: testDb.url }, logger)
})

afterAll(async () => {
  await worker?.stop()
  await receiver?.close()
  await testDb?.drop()
})

async function record(path: string, renderId: string, status: 'completed' | 'failed') {
  return (await testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId: 'org_1',
      renderId,
      kind: 'video',
      status,
      resultUrl: status === 'completed' ? `https://storage.imtegrate.com/${MARKER}.mp4` : null,
      webhookUrl: receiver.url(path),
      error: status === 'failed' ? { code: 'render_failed', message: `boom ${MARKER}` } : null,
    }),
  )) as string
}

describe('the logs of a worker at trace level', () => {
  it('never contain a secret, a signature or a payload body, through successes, retries and drops', async () => {
    // A receiver that echoes what it got: the answer excerpt must not reach the log either.
    const echo = (status: number) => (_: number, request: { body: string; headers: object }) => ({
      status,
      body: JSON.stringify({ body: request.body, headers: request.headers }),
    })
    receiver.on('/ok', echo(200))
    receiver.on('/flaky', (n, request) => echo(n === 1 ? 500 : 200)(n, request))
    receiver.on('/broken', echo(500))
    receiver.on('/gone', echo(410))
    const events = [
      await record('/ok', 'vid_ok', 'completed'),
      await record('/flaky', 'vid_flaky', 'failed'),
      await record('/broken', 'vid_broken', 'completed'),
      await record('/gone', 'vid_gone', 'failed'),
    ]
    await vi.waitFor(
      async () => {
        for (const eventId of events) {
          expect(['delivered', 'dropped']).toContain((await deliveryOf(testDb, eventId)).status)
        }
      },
      { timeout: 10_000 },
    )
    expect(receiver.requests.length).toBeGreaterThanOrEqual(6)
    expect(log).toContain('"msg":"delivery attempt"')
    expect(log).toContain('"msg":"delivery dropped"')

    const forbidden = new Set([SECRET, SECRET.slice('whsec_'.length), SEALED, KEY, MARKER])
    for (const request of receiver.requests) {
      forbidden.add(request.body)
      forbidden.add(String(request.headers['x-imtegrate-signature']))
      for (const signature of String(request.headers['webhook-signature']).split(' ')) {
        forbidden.add(signature)
        forbidden.add(signature.slice('v1,'.length))
      }
    }
    for (const text of forbidden) {
      expect(log.includes(text), `the log contains ${text.slice(0, 40)}…`).toBe(false)
    }
  })
})
