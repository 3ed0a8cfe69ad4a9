import type { IncomingHttpHeaders, Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Received = { path: string; headers: IncomingHttpHeaders; body: string; at: number }

/** What the receiver does with the n-th request (1-based) to a path; `delayMs`: answer that much later. */
export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'hang'
  | 'reset'

export type Receiver = {
  url(path?: string): string
  requests: Received[]
  on(path: string, script: (n: number, request: Received) => Reply): void
  /** The most requests to `path` it has held unanswered at once (answered ones, not hung ones, leave). */
  mostAtOnce(path: string): number
  close(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 that records every request and answers as scripted (200 by default). */
export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = []
  const scripts = new Map<string, (n: number, request: Received) => Reply>()
  const counts = new Map<string, number>()
  const holding = new Map<string, number>()
  const most = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const path = req.url ?? '/'
      const received = {
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      }
      requests.push(received)
      const n = (counts.get(path) ?? 0) + 1
      counts.set(path, n)
      const held = (holding.get(path) ?? 0) + 1
      holding.set(path, held)
      most.set(path, Math.max(most.get(path) ?? 0, held))
      const reply = scripts.get(path)?.(n, received) ?? { status: 200 }
      if (reply === 'hang') {
        return
      }
      if (reply === 'reset') {
        holding.set(path, (holding.get(path) ?? 1) - 1)
        req.socket.destroy()
        return
      }
      const answer = () => {
        holding.set(path, (holding.get(path) ?? 1) - 1)
        res.writeHead(reply.status, reply.headers)
        res.end(reply.body ?? 'ok')
      }
      if (reply.delayMs === undefined) {
        answer()
      } else {
        setTimeout(answer, reply.delayMs).unref()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    requests,
    on: (path, script) => {
      scripts.set(path, script)
    },
    mostAtOnce: (path) => most.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** How many requests carried each delivery id (X-Imtegrate-Delivery-Id), of those to `path` if given. */
export function requestsPerDelivery(requests: readonly Received[], path?: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const request of requests) {
    const id = request.headers['x-imtegrate-delivery-id']
    if (typeof id === 'string' && (path === undefined || request.path === path)) {
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
  }
  return counts
}
