import { spawnSync } from 'node:child_process'
import { sql } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { BACKLOG_MAX_AGE_MS } from '../../src/metrics/monitor.ts'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { Samples } from '../helpers/metrics.ts'
import { installed, missing, moved, scrape } from '../helpers/metrics.ts'
import { useDeliveryStack } from '../helpers/stack.ts'
import { giveOrgASecret } from '../reliability/fixtures.ts'

const stack = useDeliveryStack({ WEBHOOK_METRICS_PORT: '0' }, (testDb) => giveOrgASecret(testDb))

let renderSeq = 0
async function record(path: string, orgId = 'org_1'): Promise<string> {
  const eventId = await stack.testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId,
      renderId: `img_metrics_${++renderSeq}`,
      kind: 'image',
      status: 'completed',
      templateId: 'tpl_abc',
      resultUrl: 'https://storage.imtegrate.com/r.png',
      durationMs: 1000,
      webhookUrl: stack.receiver.url(path),
    }),
  )
  if (eventId === null) {
    throw new Error('no event recorded')
  }
  return eventId
}

const url = () => {
  const found = stack.worker.monitorUrl
  if (found === undefined) {
    throw new Error('the worker serves no metrics')
  }
  return found
}

const attempts = (outcome: string, statusClass: string) =>
  `imtegrate_webhooks_attempts_total{outcome="${outcome}",status_class="${statusClass}"}`

/** What the test makes happen, attempt by attempt (the retry schedule is 100ms x3). */
const EXPECTED: Record<string, number> = {
  // 5 plain deliveries, 2 that fail twice first, 1 whose first attempt times out.
  [attempts('delivered', '2xx')]: 8,
  // Each of the 2 flaky ones answers 503 once; the dead one 503 three times before its last try.
  [attempts('retrying', '5xx')]: 5,
  // Each of the 2 flaky ones answers 404 once.
  [attempts('retrying', '4xx')]: 2,
  [attempts('retrying', 'timeout')]: 1,
  // The dead one's fourth 503 ends its retries; org_2 has no secret, so its event is never sent.
  [attempts('dropped', '5xx')]: 1,
  [attempts('dropped', 'not_sent')]: 1,
}
const ATTEMPTS = Object.values(EXPECTED).reduce((a, b) => a + b, 0)
const DELIVERIES = 10

function movedAsExpected(before: Samples, after: Samples): Record<string, number> {
  const keys = [...after.keys()].filter((key) => key.startsWith('imtegrate_webhooks_attempts_total{'))
  return Object.fromEntries(keys.map((key) => [key, moved(before, after, key)]).filter(([, n]) => n !== 0))
}

describe("a running worker's /metrics", () => {
  it('moves the attempt counters by exactly what happened: delivered, retried, dropped', async () => {
    const before = (await scrape(url())).samples
    for (let i = 1; i <= 2; i++) {
      stack.receiver.on(`/flaky-${i}`, (n) =>
        n === 1 ? { status: 503 } : n === 2 ? { status: 404 } : { status: 200 },
      )
    }
    stack.receiver.on('/dead', () => ({ status: 503 }))
    stack.receiver.on('/slow-once', (n) => (n === 1 ? 'hang' : { status: 200 }))
    const events = [
      ...(await Promise.all([1, 2, 3, 4, 5].map((i) => record(`/ok-${i}`)))),
      await record('/flaky-1'),
      await record('/flaky-2'),
      await record('/dead'),
      await record('/slow-once'),
      await record('/unsigned', 'org_2'),
    ]
    // Scraped while it delivers, until every attempt is counted.
    let after: Samples = new Map()
    await vi.waitFor(
      async () => {
        after = (await scrape(url())).samples
        expect(movedAsExpected(before, after)).toEqual(EXPECTED)
      },
      { timeout: 20_000, interval: 100 },
    )
    // The database agrees, and nothing more is counted once every delivery has settled.
    const { rows } = await sql<{ outcome: string; n: number }>`
      select a.outcome, count(*)::int as n from webhooks.attempts a
      join webhooks.deliveries d on d.id = a.delivery_id
      where d.event_id = any(${events}) group by a.outcome order by a.outcome`.execute(stack.testDb.db)
    expect(rows).toEqual([
      { outcome: 'delivered', n: 8 },
      { outcome: 'dropped', n: 2 },
      { outcome: 'retrying', n: 8 },
    ])
    after = (await scrape(url())).samples
    expect(movedAsExpected(before, after)).toEqual(EXPECTED)

    expect(moved(before, after, 'imtegrate_webhooks_attempt_duration_seconds_count')).toBe(ATTEMPTS)
    expect(moved(before, after, 'imtegrate_webhooks_first_attempt_delay_seconds_count')).toBe(DELIVERIES)
    // Each attempt was leased by one claim and written by one outcome write.
    expect(moved(before, after, 'imtegrate_webhooks_claim_batch_size_sum')).toBe(ATTEMPTS)
    expect(moved(before, after, 'imtegrate_webhooks_outcome_write_batch_size_sum')).toBe(ATTEMPTS)
    expect(moved(before, after, 'imtegrate_webhooks_outcome_write_failures_total')).toBe(0)
    expect(after.get('imtegrate_webhooks_requests_in_flight')).toBe(0)
    // The one attempt that hung was cut at the request timeout (500 ms): at least that long.
    expect(
      moved(before, after, 'imtegrate_webhooks_attempt_duration_seconds_count') -
        moved(before, after, 'imtegrate_webhooks_attempt_duration_seconds_bucket{le="0.25"}'),
    ).toBeGreaterThanOrEqual(1)
  })

  it('shows the backlog from the database, read again within a few seconds', async () => {
    // The two dropped by the test above show once the backlog is next read (every 5 s at most).
    let samples: Samples = new Map()
    await vi.waitFor(
      async () => {
        samples = (await scrape(url())).samples
        expect(samples.get('imtegrate_webhooks_deliveries_dropped_last_hour')).toBe(2)
      },
      { timeout: BACKLOG_MAX_AGE_MS + 5_000, interval: 200 },
    )
    expect(samples.get('imtegrate_webhooks_deliveries_due')).toBe(0)
    expect(samples.get('imtegrate_webhooks_deliveries_awaiting_retry')).toBe(0)
    expect(samples.get('imtegrate_webhooks_backlog_read_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    )
    expect(samples.get('imtegrate_webhooks_dispatcher_loop_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    )
    expect(samples.get('imtegrate_webhooks_build_info{version="0.1.0"}')).toBe(1)
    expect(samples.get('process_cpu_seconds_total')).toBeGreaterThan(0)
  })

  it('labels nothing by org, endpoint, URL, render, event or delivery', async () => {
    const { text } = await scrape(url())
    const labelNames = new Set<string>()
    for (const line of text.split('\n')) {
      if (line.startsWith('imtegrate_webhooks_')) {
        for (const [, name] of line.matchAll(/([a-z_]+)="/g)) {
          labelNames.add(name ?? '')
        }
      }
    }
    expect([...labelNames].sort()).toEqual(['kind', 'le', 'outcome', 'status_class', 'version'])
    for (const identifying of ['org_', 'img_', 'evt_', 'dlv_', 'ep_', '/ok-', stack.receiver.url('')]) {
      expect(text).not.toContain(identifying)
    }
  })

  it('is accepted by promtool check metrics', async (ctx) => {
    const promtool = installed('promtool')
    if (promtool === undefined) {
      ctx.skip(missing('promtool'))
      return
    }
    const { text } = await scrape(url())
    const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(check.stdout + check.stderr).toBe('')
    expect(check.status).toBe(0)
  })
})

describe('the monitoring server', () => {
  it('answers 404 elsewhere and 405 to anything but GET', async () => {
    expect((await fetch(`${url()}/`)).status).toBe(404)
    expect((await fetch(`${url()}/metrics`, { method: 'POST' })).status).toBe(405)
    const head = await fetch(`${url()}/healthz`, { method: 'HEAD' })
    expect(head.status).toBe(200)
  })

  it('is bound to 127.0.0.1 unless WEBHOOK_METRICS_HOST says otherwise', () => {
    expect(url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })
})
