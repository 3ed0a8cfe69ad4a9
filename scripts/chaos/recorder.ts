import { setTimeout as delay } from 'node:timers/promises'
import type { RenderStatusChange } from '../../src/outbox/record.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { Db } from '../../src/store/database.ts'

export type RecorderStats = {
  /** Render ids whose event is known to be committed. */
  confirmed: string[]
  /** Render ids given up on when the run ended (their commit may or may not have happened). */
  unconfirmed: string[]
  /** Transactions that failed (connection lost, server shutting down) and were tried again. */
  retries: number
  errors: Record<string, number>
}

export type Recorder = { stop(): Promise<RecorderStats> }

const RETRY_PAUSE_MS = 200
/** After stop(), how long a render still failing to record keeps being retried. */
const STOP_GRACE_MS = 30_000

function change(seq: number, orgId: string, webhookUrl: string): RenderStatusChange {
  const failed = seq % 10 === 9
  return {
    orgId,
    renderId: `rnd_${seq}`,
    kind: seq % 2 === 0 ? 'image' : 'video',
    status: failed ? 'failed' : 'completed',
    templateId: 'tpl_chaos',
    resultUrl: failed ? null : `https://storage.example.com/chaos/${seq}.png`,
    durationMs: seq % 5000,
    webhookUrl,
    error: failed ? { code: 'chaos', message: 'a render failed on purpose' } : null,
  }
}

/**
 * Records `ratePerSecond` render completions, each in its own transaction, as the render
 * service would. A transaction that fails is tried again with the same render id: recording is
 * idempotent per render, so a commit whose acknowledgement was lost is not recorded twice, and
 * a render counts as recorded only once a commit is known to have happened.
 */
export function startRecorder(options: {
  db: Db
  ratePerSecond: number
  orgId: string
  webhookUrl: string
  maxInFlight?: number
}): Recorder {
  const stats: RecorderStats = { confirmed: [], unconfirmed: [], retries: 0, errors: {} }
  const maxInFlight = options.maxInFlight ?? 50
  const started = Date.now()
  const inFlight = new Set<Promise<void>>()
  let seq = 0
  let giveUpAt = Number.POSITIVE_INFINITY

  const record = async (n: number) => {
    const renderId = `rnd_${n}`
    for (;;) {
      try {
        await options.db
          .transaction()
          .execute((trx) => recordRenderStatus(trx, change(n, options.orgId, options.webhookUrl)))
        stats.confirmed.push(renderId)
        return
      } catch (error) {
        // For the report only: a SQLSTATE or socket code, else the start of the message.
        const code = String((error as { code?: unknown }).code ?? (error as Error).message?.slice(0, 50))
        stats.errors[code] = (stats.errors[code] ?? 0) + 1
        if (Date.now() > giveUpAt) {
          stats.unconfirmed.push(renderId)
          return
        }
        stats.retries++
        await delay(RETRY_PAUSE_MS)
      }
    }
  }
  // Catches up after a stall, but never keeps more than maxInFlight transactions open.
  const tick = () => {
    const due = Math.floor(((Date.now() - started) * options.ratePerSecond) / 1000)
    while (seq < due && inFlight.size < maxInFlight) {
      const task = record(++seq).finally(() => inFlight.delete(task))
      inFlight.add(task)
    }
  }
  const timer = setInterval(tick, 10)
  return {
    async stop() {
      clearInterval(timer)
      giveUpAt = Date.now() + STOP_GRACE_MS
      await Promise.all(inFlight)
      return stats
    },
  }
}
