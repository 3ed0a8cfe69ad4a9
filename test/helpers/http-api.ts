import { issueApiKey } from '../../src/api/api-keys.ts'
import type { HttpApiOptions } from '../../src/api/http/app.ts'
import type { ApiServer } from '../../src/api/http/server.ts'
import { startApiServer } from '../../src/api/http/server.ts'
import { createLogger } from '../../src/logger.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import { TEST_KEY } from './api.ts'
import type { TestDb } from './database.ts'

export type HttpAnswer = { status: number; headers: Headers; body: unknown; text: string }

export type TestHttpApi = {
  url: string
  /** A valid API key, and its id. */
  key: string
  keyId: string
  /** Every log line the server wrote. */
  logs: string[]
  /** A request to the API with the test key (or `key`, or none with key: null); a JSON body is sent as such. */
  request(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; headers?: Record<string, string>; key?: string | null },
  ): Promise<HttpAnswer>
  close(): Promise<void>
}

/** The real HTTP API on 127.0.0.1 (a free port) over a test database, with a key made for it. */
export async function startTestHttpApi(
  testDb: TestDb,
  bodyLimitBytes?: number,
  portal: Pick<HttpApiOptions, 'frameAncestors' | 'portalUrl'> = {},
): Promise<TestHttpApi> {
  const logs: string[] = []
  const logger = createLogger('info', { write: (line: string) => logs.push(line) })
  const server: ApiServer = await startApiServer({
    db: testDb.db,
    box: createSecretBox(TEST_KEY),
    rotationGraceMs: 86_400_000,
    logger,
    host: '127.0.0.1',
    port: 0,
    ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
    ...portal,
  })
  const issued = await issueApiKey(testDb.db, 'tests')
  return {
    url: server.url,
    key: issued.key,
    keyId: issued.id,
    logs,
    async request(method, path, options = {}) {
      const key = options.key === undefined ? issued.key : options.key
      const headers: Record<string, string> = {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      }
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      })
      const text = await response.text()
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
      return { status: response.status, headers: response.headers, body: parsed, text }
    },
    close: () => server.close(1_000),
  }
}
