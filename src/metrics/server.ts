import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { coerceError, errorText } from '../errors.ts'
import { listenOn } from '../listen.ts'
import type { Logger } from '../logger.ts'
import type { HealthAnswer } from './health.ts'

export type MonitorServerOptions = {
  host: string
  port: number
  registry: Registry
  healthz: () => Promise<HealthAnswer>
  readyz: () => Promise<HealthAnswer>
  logger: Logger
}

export type MonitorServer = {
  /** http://host:port, with the port the server got (WEBHOOK_METRICS_PORT=0: any free one). */
  url: string
  close(): Promise<void>
}

/**
 * Serves GET /metrics (Prometheus text format), /healthz and /readyz (200 or 503 with the
 * checks as JSON). Nothing else: any other path is 404, any other method 405.
 */
export async function startMonitorServer(options: MonitorServerOptions): Promise<MonitorServer> {
  const routes: Record<string, (res: ServerResponse) => Promise<void>> = {
    '/metrics': async (res) => {
      const text = await options.registry.metrics()
      res.writeHead(200, { 'content-type': options.registry.contentType }).end(text)
    },
    '/healthz': async (res) => sendHealth(res, await options.healthz()),
    '/readyz': async (res) => sendHealth(res, await options.readyz()),
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname]
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET only\n')
      return
    }
    route(res).catch((error: unknown) => {
      options.logger.error({ err: coerceError(error), path: req.url }, 'monitoring request failed')
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' })
      }
      res.end(`${errorText(error)}\n`)
    })
  })
  // A scraper that stops mid-request must not hold a socket for ever.
  server.requestTimeout = 10_000
  server.headersTimeout = 5_000
  await listenOn(server, options, 'metrics', 'WEBHOOK_METRICS_HOST, WEBHOOK_METRICS_PORT')
  server.on('error', (error) => options.logger.error({ err: error }, 'monitoring server error'))
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  options.logger.info({ url }, 'serving /metrics, /healthz and /readyz')
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function sendHealth(res: ServerResponse, answer: HealthAnswer): void {
  res
    .writeHead(answer.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(`${JSON.stringify({ status: answer.ok ? 'ok' : 'unavailable', checks: answer.checks })}\n`)
}
