import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { deliveryAttempts, getDelivery, listDeliveries } from '../../src/store/history.ts'
import { dlv, useSeededHistory } from '../helpers/history-seed.ts'

const history = useSeededHistory()

/** The ```sql blocks of docs/queries.md, by the heading above them: the doc is the test's input. */
function documentedQueries(): Map<string, string> {
  const markdown = readFileSync(new URL('../../docs/queries.md', import.meta.url), 'utf8')
  const queries = new Map<string, string>()
  let heading = ''
  for (const block of markdown.split(/^(## .+)$/m)) {
    if (block.startsWith('## ')) {
      heading = block.slice(3).trim()
      continue
    }
    for (const match of block.matchAll(/```sql\n([\s\S]*?)```/g)) {
      expect(queries.has(heading), `one query under "${heading}"`).toBe(false)
      queries.set(heading, match[1] ?? '')
    }
  }
  return queries
}

type Row = Record<string, unknown>
const pick = (rows: Row[], ...keys: string[]) =>
  rows.map((row) => Object.fromEntries(keys.map((key) => [key, row[key]])))

// What each documented query says it returns, on the seeded history (test/helpers/history-seed.ts).
const expectations: Record<string, (rows: Row[]) => void> = {
  'The history of one render': (rows) => {
    expect(pick(rows, 'destination', 'attempt', 'replay', 'outcome')).toEqual([
      { destination: 'render_url', attempt: 1, replay: 0, outcome: 'retrying' },
      { destination: 'render_url', attempt: 2, replay: 0, outcome: 'dropped' },
      { destination: 'ep_1', attempt: 1, replay: 0, outcome: 'retrying' },
      { destination: 'ep_1', attempt: 2, replay: 0, outcome: 'dropped' },
      { destination: 'render_url', attempt: 3, replay: 1, outcome: 'delivered' },
    ])
    expect(rows[2]).toMatchObject({
      event_type: 'image.completed',
      status_code: null,
      error: 'timeout: no complete answer within 10s',
      duration_ms: 100,
    })
  },
  'Failures of one endpoint today': (rows) => {
    expect(pick(rows, 'delivery_id', 'attempt', 'status_code', 'outcome')).toEqual([
      { delivery_id: dlv(7), attempt: 2, status_code: 500, outcome: 'retrying' },
      { delivery_id: dlv(2), attempt: 2, status_code: 503, outcome: 'dropped' },
      { delivery_id: dlv(2), attempt: 1, status_code: null, outcome: 'retrying' },
    ])
  },
  'Everything dropped this week': (rows) => {
    expect(pick(rows, 'delivery_id', 'org_id', 'destination', 'subject_id', 'last_error')).toEqual([
      {
        delivery_id: dlv(2),
        org_id: 'org_1',
        destination: 'ep_1',
        subject_id: 'img_xyz',
        last_error: 'http_503: the receiver answered 503',
      },
      {
        delivery_id: dlv(4),
        org_id: 'org_1',
        destination: 'ep_1',
        subject_id: 'img_old',
        last_error: 'http_500: the receiver answered 500',
      },
      {
        delivery_id: dlv(6),
        org_id: 'org_2',
        destination: 'render_url',
        subject_id: 'img_xyz',
        last_error: 'no_signing_secret: org org_2 has no render-webhook secret',
      },
    ])
  },
  'Endpoint health': (rows) => {
    expect(rows.map(({ last_success_at, ...row }) => row)).toEqual([
      // 4 known outcomes in 24 h (the lost attempt and the one 25 h ago left out); one failure
      // since the last success.
      {
        endpoint_id: 'ep_1',
        url: 'http://127.0.0.1:9/ep1',
        enabled: true,
        attempts: 4,
        success_rate: '0.250',
        p50_ms: 250,
        p95_ms: 385,
        consecutive_failures: 1,
      },
      {
        endpoint_id: 'ep_2',
        url: 'http://127.0.0.1:9/ep2',
        enabled: true,
        attempts: 1,
        success_rate: '1.000',
        p50_ms: 50,
        p95_ms: 50,
        consecutive_failures: 0,
      },
      {
        endpoint_id: 'ep_4',
        url: 'http://127.0.0.1:9/ep4',
        enabled: false,
        attempts: 0,
        success_rate: null,
        p50_ms: null,
        p95_ms: null,
        consecutive_failures: 0,
      },
    ])
    expect(rows[2]?.['last_success_at']).toBeNull()
  },
  'The attempts of one delivery': (rows) => {
    expect(pick(rows, 'attempt', 'replay', 'status_code', 'outcome')).toEqual([
      { attempt: 1, replay: 0, status_code: 500, outcome: 'retrying' },
      { attempt: 2, replay: 0, status_code: 500, outcome: 'dropped' },
      { attempt: 3, replay: 1, status_code: 200, outcome: 'delivered' },
    ])
  },
}

describe('docs/queries.md', () => {
  const queries = documentedQueries()

  it('has exactly the queries this test checks', () => {
    expect([...queries.keys()].sort()).toEqual(Object.keys(expectations).sort())
  })

  for (const [heading, query] of queries) {
    it(`"${heading}" returns what the doc says`, async () => {
      const { rows } = await history.testDb.pool.query<Row>(query)
      expectations[heading]?.(rows)
    })
  }
})

describe('webhooks.delivery_history', () => {
  it('has one row per attempt with its event, destination and outcome', async () => {
    const { rows } = await history.testDb.pool.query<Row>(
      'select * from webhooks.delivery_history where delivery_id = $1',
      [dlv(2)],
    )
    expect(rows).toHaveLength(2)
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'attempt_id',
      'delivery_id',
      'event_id',
      'event_type',
      'subject_id',
      'org_id',
      'destination',
      'endpoint_id',
      'url',
      'attempt',
      'replay',
      'started_at',
      'duration_ms',
      'status_code',
      'error',
      'outcome',
      'response_excerpt',
    ])
    expect(rows[1]).toMatchObject({
      event_id: 'evt_e1',
      org_id: 'org_1',
      destination: 'ep_1',
      endpoint_id: 'ep_1',
      url: 'http://127.0.0.1:9/ep_1',
      error: 'http_503: the receiver answered 503',
    })
  })
})

describe('listDeliveries', () => {
  const ids = async (filter: Parameters<typeof listDeliveries>[1]) =>
    (await listDeliveries(history.testDb.db, filter)).map((row) => row.id)

  it('lists an endpoint’s deliveries newest first', async () => {
    expect(await ids({ endpointId: 'ep_1', limit: 50 })).toEqual([dlv(10), dlv(7), dlv(3), dlv(2), dlv(4)])
  })

  it('counts deliveries being attempted right now as pending', async () => {
    expect(await ids({ status: 'pending', limit: 50 })).toEqual([dlv(10), dlv(7)])
  })

  it('filters by org, status, creation time and limit together', async () => {
    expect(await ids({ orgId: 'org_1', status: 'dropped', limit: 50 })).toEqual([dlv(2), dlv(4), dlv(5)])
    expect(await ids({ orgId: 'org_2', limit: 50 })).toEqual([dlv(6)])
    const since = new Date(Date.now() - 2 * 86_400_000)
    expect((await ids({ since, limit: 50 })).sort()).toEqual([1, 2, 3, 4, 7, 8, 9, 10].map(dlv))
    expect(await ids({ endpointId: 'ep_1', limit: 2 })).toEqual([dlv(10), dlv(7)])
  })
})

describe('a delivery and its attempts', () => {
  it('come back with the event, and the attempts in order across replays', async () => {
    expect(await getDelivery(history.testDb.db, dlv(1))).toMatchObject({
      id: dlv(1),
      event_type: 'image.completed',
      subject_id: 'img_xyz',
      status: 'delivered',
      replays: 1,
    })
    expect(await getDelivery(history.testDb.db, 'dlv_unknown')).toBeUndefined()
    const attempts = await deliveryAttempts(history.testDb.db, dlv(1))
    expect(attempts.map((a) => [a.attempt, a.replay, a.outcome])).toEqual([
      [1, 0, 'retrying'],
      [2, 0, 'dropped'],
      [3, 1, 'delivered'],
    ])
  })
})
