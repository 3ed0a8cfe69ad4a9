import { createHash } from 'node:crypto'
import type { SecretBox } from '../../secret-box.ts'
import type { Db } from '../../store/database.ts'
import { transact } from '../../store/database.ts'
import { claimIdempotencyKey, storeIdempotentAnswer } from '../../store/idempotency.ts'
import type { ProblemBody } from './problems.ts'
import { problem } from './problems.ts'

export type Answer = { status: number; body: unknown; replayed: boolean }

/**
 * Runs a POST at most once per (caller, Idempotency-Key): the first request runs `run` with a
 * transaction, and its answer is stored (sealed, as it may hold a new secret) in that same
 * transaction, so what the request changed and its stored answer commit together or not at all.
 * A repeat gets the stored answer; a repeat arriving while the first runs waits for it. A key
 * used with another method, path or body is refused. Failures are not stored: the transaction
 * rolls back, and a repeat runs the request again.
 */
export async function idempotent(
  db: Db,
  box: SecretBox,
  request: { principal: string; key: string; method: string; path: string; body: unknown },
  run: (trx: Db) => Promise<{ status: number; body: unknown }>,
): Promise<Answer | ProblemBody> {
  const hash = createHash('sha256')
    .update(`${request.method} ${request.path}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex')
  return transact(db, async (trx) => {
    const stored = await claimIdempotencyKey(trx, request.principal, request.key, hash)
    if (stored !== undefined) {
      if (stored.request_hash !== hash) {
        return problem(
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used with another request (method, path or body) in the last 24 hours',
        )
      }
      return {
        status: stored.status_code,
        body: JSON.parse(box.open(stored.response)) as unknown,
        replayed: true,
      }
    }
    const answer = await run(trx)
    await storeIdempotentAnswer(trx, request.principal, request.key, {
      status_code: answer.status,
      response: box.seal(JSON.stringify(answer.body)),
    })
    return { ...answer, replayed: false }
  })
}
