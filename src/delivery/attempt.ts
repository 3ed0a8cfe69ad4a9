import type { SecretBox } from '../secret-box.ts'
import type { ClaimedDelivery } from '../store/claim.ts'
import type { AttemptRecord } from '../store/outcomes.ts'
import { renderBody } from './body.ts'
import type { Classification } from './classify.ts'
import { classifyStatus, classifyTransportError, destinationSignal } from './classify.ts'
import { deliveryHeaders } from './headers.ts'
import type { HttpClient } from './http.ts'
import { TransportError } from './http.ts'
import type { Settlement } from './retry-policy.ts'
import { ABANDONED, settle } from './retry-policy.ts'
import { signatureHeaders } from './sign.ts'

export type AttemptDeps = {
  http: HttpClient
  box: SecretBox
  schedule: readonly number[]
  /** Aborts the request when the worker stops; the attempt is then retried at once elsewhere. */
  signal?: AbortSignal
  now?: () => Date
}

type Ending = Pick<AttemptRecord, 'statusCode' | 'responseExcerpt' | 'errorCode' | 'errorMessage'>

/**
 * One attempt of a claimed delivery: sign, POST, classify, decide. Never throws: every way it
 * can end is an attempt record for the batch to write.
 */
export async function attemptDelivery(claimed: ClaimedDelivery, deps: AttemptDeps): Promise<AttemptRecord> {
  const now = deps.now ?? (() => new Date())
  const startedAt = now()
  const record = (ending: Ending, settlement: Settlement): AttemptRecord => ({
    deliveryId: claimed.id,
    attemptNo: claimed.attempts,
    replayNo: claimed.replays,
    orgId: claimed.org_id,
    endpointId: claimed.endpoint_id,
    destinationId: claimed.destination_id,
    startedAt,
    durationMs: Math.max(0, now().getTime() - startedAt.getTime()),
    ...ending,
    ...settlement,
    signal: destinationSignal(ending),
  })
  const finish = (outcome: Classification, ending: Ending) =>
    record(ending, settle(outcome, claimed.failures, deps.schedule))
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
    const ending = {
      statusCode: null,
      responseExcerpt: null,
      errorCode: code,
      errorMessage: error instanceof Error ? error.message : String(error),
    }
    return code === 'aborted' ? record(ending, ABANDONED) : finish(classifyTransportError(code), ending)
  }
}
