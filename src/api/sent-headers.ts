import { deliveryHeaders } from '../delivery/headers.ts'
import { USER_AGENT } from '../delivery/http.ts'

/**
 * The headers an attempt was sent with, rebuilt from what is stored: everything but the
 * signatures, which are not kept (null). The same functions build them for the real request.
 */
export function sentHeaders(attempt: {
  deliveryId: string
  eventType: string
  attempt: number
  startedAt: Date
  test: boolean
}): Record<string, string | null> {
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    ...deliveryHeaders({
      id: attempt.deliveryId,
      type: attempt.eventType,
      attempt: attempt.attempt,
      test: attempt.test,
    }),
    'webhook-id': attempt.deliveryId,
    'webhook-timestamp': String(Math.floor(attempt.startedAt.getTime() / 1000)),
    'webhook-signature': null,
    'x-imtegrate-signature': null,
  }
}
