import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { coerceError } from '../../errors.ts'
import { listenOn } from '../../listen.ts'
import { deleteExpiredAnswers } from '../../store/idempotency.ts'
import { deleteEndedPortalRows } from '../../store/portal.ts'
import type { HttpApiOptions } from './app.ts'
import { createHttpApp } from './app.ts'

export type ApiServer = {
  /** http://host:port, with the port the server got (port 0: any free one). */
  url: string
  /** Stops taking requests, lets those under way finish for up to `graceMs`, then closes. */
  close(graceMs?: number): Promise<void>
}

const CLEANUP_EVERY_MS = 3_600_000

/** Serves the HTTP API on host:port until close(). */
export async function startApiServer(
  options: HttpApiOptions & { host: string; port: number },
): Promise<ApiServer> {
  const app = createHttpApp(options)
  const server = createAdaptorServer({ fetch: app.fetch }) as Server
  // A client that stops mid-request must not hold a socket for ever.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  await listenOn(server, options, 'the API', 'WEBHOOK_API_HOST, WEBHOOK_API_PORT')
  server.on('error', (error) => options.logger.error({ err: error }, 'API server error'))
  // Stored answers to idempotent requests are kept 24 hours; older ones go, a batch an hour. So do
  // portal links and sessions that ended more than a day ago.
  const cleanup = setInterval(() => {
    deleteExpiredAnswers(options.db, 10_000).catch((error: unknown) =>
      options.logger.warn({ err: coerceError(error) }, 'could not delete expired idempotency answers'),
    )
    deleteEndedPortalRows(options.db).catch((error: unknown) =>
      options.logger.warn({ err: coerceError(error) }, 'could not delete ended portal sessions'),
    )
  }, CLEANUP_EVERY_MS)
  cleanup.unref()
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  options.logger.info({ url }, 'serving the API')
  return {
    url,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        clearInterval(cleanup)
        const force = setTimeout(() => server.closeAllConnections(), graceMs)
        force.unref()
        server.closeIdleConnections()
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
      }),
  }
}
