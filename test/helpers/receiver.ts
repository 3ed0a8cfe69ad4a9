import type { IncomingHttpHeaders, Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Received = { path: string; headers: IncomingHttpHeaders; body: string; at: number }

/** What the receiver does with the n-th request (1-based) to a path. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'reset'

export type Receiver = {
  url(path?: string): string
  requests: Received[]
  on(path: string, script: (n: number, request: Received) => Reply): void
  close(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 that records every request and answers as scripted (200 by default). */
export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = []
  const scripts = new Map<string, (n: number, request: Received) => Reply>()
  const counts = new Map<string, number>()
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
      const reply = scripts.get(path)?.(n, received) ?? { status: 200 }
      if (reply === 'hang') {
        return
      }
      if (reply === 'reset') {
        req.socket.destroy()
        return
      }
      res.writeHead(reply.status, reply.headers)
      res.end(reply.body ?? 'ok')
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
