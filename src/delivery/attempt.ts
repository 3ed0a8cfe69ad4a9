import type { SecretBox } from '../secret-box.ts'
import type { AttemptRecord, ClaimedDelivery } from '../store/deliveries.ts'
import { renderBody } from './body.ts'
import type { Classification } from './classify.ts'
import { classifyStatus } from './classify.ts'
import { deliveryHeaders } from './headers.ts'
import type { HttpClient } from './http.ts'
import { TransportError } from './http.ts'
import { decide } from './retry-policy.ts'
import { signatureHeaders } from './sign.ts'

export type AttemptDeps = {
  http: HttpClient
  box: SecretBox
  schedule: readonly number[]
  /** Aborts the request when the worker stops; the attempt is then retried at once elsewhere. */
  signal?: AbortSignal
  now?: () => Date
}

/** Transport failures that no retry can fix. */
const PERMANENT_ERRORS = new Set(['target_refused', 'invalid_url'])

/**
 * One attempt of a claimed delivery: sign, POST, classify, decide. Never throws: every way it
 * can end is an attempt record for the batch to write.
 */
export async function attemptDelivery(claimed: ClaimedDelivery, deps: AttemptDeps): Promise<AttemptRecord> {
  const now = deps.now ?? (() => new Date())
  const startedAt = now()
  const base = {
    deliveryId: claimed.id,
    attemptNo: claimed.attempts,
    replayNo: claimed.replays,
    orgId: claimed.org_id,
    endpointId: claimed.endpoint_id,
    startedAt,
    statusCode: null,
    responseExcerpt: null,
  }
  const finish = (
    outcome: Classification,
    fields: Pick<AttemptRecord, 'statusCode' | 'responseExcerpt' | 'errorCode' | 'errorMessage'>,
  ): AttemptRecord => {
    const ended = now()
    const decision = decide(outcome, claimed.failures, deps.schedule)
    return {
      ...base,
      ...fields,
      durationMs: Math.max(0, ended.getTime() - startedAt.getTime()),
      outcome: decision.status === 'pending' ? 'retrying' : decision.status,
      status: decision.status,
      retryInMs: decision.status === 'pending' ? decision.retryInMs : null,
    }
  }
  const refuse = (errorCode: string, errorMessage: string) =>
    finish({ kind: 'permanent' }, { statusCode: null, responseExcerpt: null, errorCode, errorMessage })

  if (!claimed.active) {
    return refuse('endpoint_disabled', 'the endpoint was disabled or deleted; nothing was sent')
  }
  if (claimed.secret === null) {
    return refuse(
      'no_signing_secret',
      `org ${claimed.org_id} has no render-webhook secret; nothing was sent unsigned`,
    )
  }

  try {
    const body = renderBody(claimed)
    const keys = {
      current: deps.box.open(claimed.secret),
      previous: claimed.previous_secret === null ? undefined : deps.box.open(claimed.previous_secret),
    }
    const headers = {
      ...signatureHeaders(keys, claimed.id, Math.floor(startedAt.getTime() / 1000), body),
      ...deliveryHeaders({
        id: claimed.id,
        type: claimed.type,
        attempt: claimed.attempts,
        test: claimed.test,
      }),
    }
    const answer = await deps.http.post(claimed.url, headers, body, deps.signal)
    const outcome = classifyStatus(answer.statusCode, answer.retryAfter, now())
    return finish(outcome, {
      statusCode: answer.statusCode,
      responseExcerpt: answer.excerpt,
      errorCode: outcome.kind === 'success' ? null : `http_${answer.statusCode}`,
      errorMessage: outcome.kind === 'success' ? null : `the receiver answered ${answer.statusCode}`,
    })
  } catch (error) {
    const code =
      error instanceof TransportError ? error.code : ((error as { code?: string }).code ?? 'internal')
    const message = error instanceof Error ? error.message : String(error)
    if (code === 'aborted') {
      // Our worker stopped, not the receiver: the attempt is logged but costs no retry budget.
      return {
        ...base,
        durationMs: Math.max(0, now().getTime() - startedAt.getTime()),
        errorCode: code,
        errorMessage: message,
        outcome: 'lost',
        status: 'pending',
        retryInMs: 0,
      }
    }
    const kind = PERMANENT_ERRORS.has(code) ? 'permanent' : 'failure'
    return finish(
      { kind },
      { statusCode: null, responseExcerpt: null, errorCode: code, errorMessage: message },
    )
  }
}
