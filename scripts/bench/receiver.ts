// The benchmark's webhook receiver, run as its own process (scripts/bench/children.ts starts it):
// answers every POST with 200 at once, counts requests, and notes when each latency probe
// (`/lat/<key>`) first arrived. It exits when its parent goes away.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type ReceiverRequest = { id: number; op: 'count' | 'arrivals' }
export type ReceiverReply = { id: number; count: number; arrivals?: Array<[string, number]> }

let count = 0
let arrivals = new Map<string, number>()

const server = createServer((req, res) => {
  // Drain the body without keeping it: a receiver that stores nothing costs the least CPU.
  req.resume()
  req.on('end', () => {
    count++
    const url = req.url ?? '/'
    if (url.startsWith('/lat/')) {
      const key = url.slice(5)
      if (!arrivals.has(key)) {
        arrivals.set(key, performance.timeOrigin + performance.now())
      }
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
    res.end('ok')
  })
})
server.keepAliveTimeout = 30_000

process.on('message', (message: ReceiverRequest) => {
  const reply: ReceiverReply = { id: message.id, count }
  if (message.op === 'arrivals') {
    reply.arrivals = [...arrivals]
    arrivals = new Map()
  }
  process.send?.(reply)
})
process.on('disconnect', () => process.exit(0))

server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: (server.address() as AddressInfo).port })
})
