import type { LookupFunction } from 'node:net'
import { Agent, request } from 'undici'
import { CodedError } from '../errors.ts'
import { version } from '../version.ts'

/** Refuses targets that must not be reached (private addresses); see address-guard.ts. */
export type TargetGuard = {
  /** A dns.lookup replacement that only ever yields permitted addresses. */
  lookup: LookupFunction
  /** Throws (code ERR_TARGET_REFUSED) when the host is an IP literal that is not permitted. */
  checkHostname(hostname: string): void
}

export type HttpAnswer = { statusCode: number; retryAfter: string | undefined; excerpt: string }

/**
 * Why an exchange got no complete answer: recorded as the attempt's error code (docs/contract.md's
 * history views show it), so lowercase like the other recorded codes (no_signing_secret, http_500).
 */
export type TransportCode =
  | 'connection_refused'
  | 'connection_reset'
  | 'dns_failure'
  | 'host_unreachable'
  | 'timeout'
  | 'target_refused'
  | 'invalid_url'
  | 'tls_error'
  | 'aborted'
  | 'request_failed'

/** A failed exchange: no complete answer. `code` is one of ours, stable for logs and views. */
export class TransportError extends CodedError<TransportCode> {}

const EXCERPT_BYTES = 4096
export const USER_AGENT = `Imtegrate-Webhooks/${version}`

export type HttpClient = {
  post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<HttpAnswer>
  close(): Promise<void>
}

/**
 * POSTs with a bound on everything: one timeout covers connect, headers and the body, no
 * redirects are followed, at most 4 KB of the answer is kept and the rest is discarded.
 */
export function createHttpClient(options: {
  timeoutMs: number
  guard?: TargetGuard | undefined
}): HttpClient {
  const { timeoutMs, guard } = options
  const agent = new Agent({
    connect: { timeout: timeoutMs, ...(guard ? { lookup: guard.lookup } : {}) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4_000,
    allowH2: false,
  })

  async function post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal) {
    // One deadline for the whole exchange, and the worker's stop signal, on one controller: a
    // cleared timer per request rather than AbortSignal.timeout/any, whose timers and composite
    // signals outlive the request and cost more than the request's own bookkeeping.
    const abort = new AbortController()
    let timedOut = false
    const deadline = setTimeout(() => {
      timedOut = true
      abort.abort()
    }, timeoutMs)
    const stop = () => abort.abort()
    signal?.addEventListener('abort', stop, { once: true })
    try {
      if (signal?.aborted) {
        abort.abort()
      }
      const target = new URL(url)
      guard?.checkHostname(target.hostname.replace(/^\[|\]$/g, ''))
      const response = await request(target, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
        body,
        signal: abort.signal,
      })
      const retryAfter = response.headers['retry-after']
      const excerpt = await readExcerpt(response.body)
      return {
        statusCode: response.statusCode,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        excerpt,
      }
    } catch (error) {
      throw toTransportError(error, timedOut, timeoutMs)
    } finally {
      clearTimeout(deadline)
      signal?.removeEventListener('abort', stop)
    }
  }

  return { post, close: () => agent.close() }
}

async function readExcerpt(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  // Leaving the loop early destroys the stream: an oversized answer costs us nothing more.
  for await (const chunk of body) {
    chunks.push(chunk)
    size += chunk.length
    if (size >= EXCERPT_BYTES) {
      break
    }
  }
  // PostgreSQL text cannot hold NUL; a cut multi-byte character decodes as U+FFFD.
  return Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8').replaceAll('\u0000', '')
}

const CODES: Record<string, TransportCode> = {
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  UND_ERR_CLOSED: 'connection_reset',
  ENOTFOUND: 'dns_failure',
  EAI_AGAIN: 'dns_failure',
  EHOSTUNREACH: 'host_unreachable',
  ENETUNREACH: 'host_unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ERR_TARGET_REFUSED: 'target_refused',
  ERR_INVALID_URL: 'invalid_url',
}

function toTransportError(error: unknown, timedOut: boolean, timeoutMs: number): TransportError {
  if (error instanceof TransportError) {
    return error
  }
  if (timedOut) {
    return new TransportError('timeout', `no complete answer within ${timeoutMs}ms`, { cause: error })
  }
  const found = findCode(error)
  const message = error instanceof Error ? error.message : String(error)
  if (found && CODES[found]) {
    return new TransportError(CODES[found], message, { cause: error })
  }
  if (found && /^(ERR_TLS|CERT_|DEPTH_ZERO|UNABLE_TO_|SELF_SIGNED|ERR_SSL)/.test(found)) {
    return new TransportError('tls_error', message, { cause: error })
  }
  if ((error as Error | undefined)?.name === 'AbortError') {
    return new TransportError('aborted', 'the worker stopped during the request', { cause: error })
  }
  return new TransportError('request_failed', message, { cause: error })
}

/** The first system or undici code along the cause chain (undici wraps socket errors). */
function findCode(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | undefined
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string') {
      return current.code
    }
    current = current.cause as typeof current
  }
  return undefined
}
