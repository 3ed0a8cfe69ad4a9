// The chaos run's customer server, in its own process so killing workers cannot disturb it.
// It answers each POST with a random reply from a scripted mix and counts what it answered 2xx.
// Started by receiver.ts with an IPC channel: it reports its port, then answers `stats` requests.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ReceiverStats, ReplyKind, ToReceiver } from './receiver.ts'

/** Percent of requests per reply; the failures are rare enough that no delivery exhausts its retries. */
const MIX: ReadonlyArray<readonly [ReplyKind, number]> = [
  ['ok', 85],
  ['error_500', 5],
  ['too_many_429', 4],
  ['slow', 3],
  ['reset', 3],
]
/** Longer than the workers' request timeout, so a slow reply is always a timeout for them. */
const SLOW_MS = 2_500

const secrets = new Map<string, string>()
const stats: ReceiverStats = {
  requests: 0,
  byReply: { ok: 0, error_500: 0, too_many_429: 0, slow: 0, reset: 0 },
  badSignatures: 0,
  malformed: 0,
  answered2xx: [],
}
/** Delivery id -> index in stats.answered2xx. */
const okIndex = new Map<string, number>()

function pickReply(): ReplyKind {
  let roll = Math.random() * 100
  for (const [kind, weight] of MIX) {
    roll -= weight
    if (roll < 0) {
      return kind
    }
  }
  return 'ok'
}

function signatureValid(path: string, body: string, signature: string | string[] | undefined): boolean {
  const secret = secrets.get(path)
  if (secret === undefined || typeof signature !== 'string') {
    return false
  }
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

function countOk(deliveryId: string, path: string, renderId: string): void {
  const index = okIndex.get(deliveryId)
  if (index === undefined) {
    okIndex.set(deliveryId, stats.answered2xx.length)
    stats.answered2xx.push({ deliveryId, path, renderId, times: 1 })
    return
  }
  const entry = stats.answered2xx[index]
  if (entry) {
    entry.times++
  }
}

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  stats.requests++
  const path = req.url ?? '/'
  const deliveryId = req.headers['x-imtegrate-delivery-id']
  let renderId: unknown
  try {
    renderId = (JSON.parse(body) as { data?: { id?: unknown } }).data?.id
  } catch {
    renderId = undefined
  }
  if (typeof deliveryId !== 'string' || typeof renderId !== 'string') {
    stats.malformed++
  }
  if (!signatureValid(path, body, req.headers['x-imtegrate-signature'])) {
    stats.badSignatures++
  }
  const reply = pickReply()
  stats.byReply[reply]++
  if (reply === 'ok') {
    // Counted once the answer is handed to the socket: a worker killed right after may not know.
    res.on('finish', () => countOk(String(deliveryId), path, String(renderId)))
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  } else if (reply === 'error_500') {
    res.writeHead(500).end('chaos: internal error')
  } else if (reply === 'too_many_429') {
    res.writeHead(429, { 'retry-after': '1' }).end('chaos: slow down')
  } else if (reply === 'slow') {
    setTimeout(() => req.socket.destroy(), SLOW_MS).unref()
  } else {
    req.socket.destroy()
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')))
  req.on('error', () => undefined)
})

process.on('message', (message: ToReceiver) => {
  if (message.type === 'secrets') {
    for (const [path, secret] of Object.entries(message.secrets)) {
      secrets.set(path, secret)
    }
    process.send?.({ type: 'secrets-set' })
  } else if (message.type === 'stats') {
    process.send?.({ type: 'stats', stats })
  }
})
// The parent going away (even killed) ends the receiver: it must never outlive the run.
process.on('disconnect', () => process.exit(0))

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port })
})
