import type { IncomingMessage, Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebhookError } from '../errors.ts'
import type { Verdict } from './verify.ts'
import { verifyImtegrateSignature, verifyStandardWebhook } from './verify.ts'

/** One webhook as it arrived, with what verifying its two signatures said. */
export type Arrival = {
  type: string
  deliveryId: string
  attempt: string
  /** The render's (or collection's) id and status, from the body. */
  subject: string
  imtegrate: Verdict
  standard: Verdict
}

export type ListenReceiver = { url: string; close(): Promise<void> }

/** More than any webhook of ours: a larger body is refused unread. */
const MAX_BODY = 1024 * 1024

/**
 * An HTTP receiver on 127.0.0.1 that verifies each POST with `secret` (both signatures) and
 * answers 200 when both verify, 401 when not, then reports it through `onArrival`.
 */
export async function startListenReceiver(
  secret: string,
  port: number,
  onArrival: (arrival: Arrival) => void,
): Promise<ListenReceiver> {
  const server: Server = createServer((request, response) => {
    readBody(request).then(
      (body) => {
        const arrival = judge(request, body, secret)
        response.writeHead(arrival.imtegrate.ok && arrival.standard.ok ? 200 : 401).end()
        onArrival(arrival)
      },
      () => {
        response.writeHead(413).end()
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}/webhooks`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function judge(request: IncomingMessage, body: string, secret: string): Arrival {
  const header = (name: string) => {
    const value = request.headers[name]
    return Array.isArray(value) ? value[0] : value
  }
  return {
    type: header('x-imtegrate-event-type') ?? '?',
    deliveryId: header('x-imtegrate-delivery-id') ?? '?',
    attempt: header('x-imtegrate-attempt') ?? '?',
    subject: subjectOf(body),
    imtegrate: verifyImtegrateSignature(body, header('x-imtegrate-signature'), secret),
    standard: verifyStandardWebhook(
      body,
      {
        id: header('webhook-id'),
        timestamp: header('webhook-timestamp'),
        signature: header('webhook-signature'),
      },
      secret,
      Math.floor(Date.now() / 1000),
    ),
  }
}

function subjectOf(body: string): string {
  try {
    const { data } = JSON.parse(body) as { data?: { id?: unknown; status?: unknown } }
    return `${String(data?.id)} ${String(data?.status)}`
  } catch {
    return '(not JSON)'
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new WebhookError('INVALID_ARGUMENT', 'the body is larger than 1 MiB'))
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}
