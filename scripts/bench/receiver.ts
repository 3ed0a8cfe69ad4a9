// The benchmark's webhook receiver, run as its own process (scripts/bench/children.ts starts it):
// answers every POST with 200 at once, counts requests, and notes when each latency probe
// (`/lat/<key>`) first arrived. A request to `/hang/...` is a server that accepts and never
// answers: it is held, not counted, until the bench asks to let go of them. It exits when its
// parent goes away.
import type { ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type ReceiverRequest = { id: number; op: 'count' | 'arrivals' | 'release' }
export type ReceiverReply = {
  id: number
  count: number
  arrivals?: Array<[string, number]>
  /** Hung requests let go of (op 'release'). */
  released?: number
}

let count = 0
let arrivals = new Map<string, number>()
const hung = new Set<ServerResponse>()

const server = createServer((req, res) => {
  if (req.url?.startsWith('/hang/')) {
    req.resume()
    hung.add(res)
    res.on('close', () => hung.delete(res))
    return
  }
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
  } else if (message.op === 'release') {
    reply.released = hung.size
    for (const res of hung) {
      res.destroy()
    }
  }
  process.send?.(reply)
})
process.on('disconnect', () => process.exit(0))

server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: (server.address() as AddressInfo).port })
})
