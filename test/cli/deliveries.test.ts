import { describe, expect, it } from 'vitest'
import { runCli, runCliJson } from '../helpers/cli.ts'
import { dlv, useSeededHistory } from '../helpers/history-seed.ts'

const history = useSeededHistory()

const cli = (...argv: string[]) => runCli(history.testDb, argv)

describe('deliveries list', () => {
  it('prints a table of deliveries, newest first', async () => {
    const result = await cli('deliveries', 'list', '--endpoint', 'ep_1')
    expect(result.code).toBe(0)
    const [header, ...lines] = result.out.split('\n')
    expect(header).toMatch(
      /^ID\s+STATUS\s+EVENT_TYPE\s+DESTINATION\s+ATTEMPTS\s+REPLAYS\s+LAST_ERROR\s+CREATED_AT$/,
    )
    expect(lines.map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
      [dlv(10), 'in_flight'],
      [dlv(7), 'pending'],
      [dlv(3), 'delivered'],
      [dlv(2), 'dropped'],
      [dlv(4), 'dropped'],
    ])
    expect(lines[3]).toContain('http_503: the receiver answered 503')
  })

  it('prints JSON with --json, filtered by org, status, time and limit', async () => {
    type Row = { id: string; status: string; event_type: string; org_id: string; created_at: string }
    const dropped = await runCliJson<Row[]>(history.testDb, [
      'deliveries',
      'list',
      '--org',
      'org_1',
      '--status',
      'dropped',
    ])
    expect(dropped.map((row) => row.id)).toEqual([dlv(2), dlv(4), dlv(5)])
    expect(dropped[0]).toMatchObject({ status: 'dropped', event_type: 'image.completed', org_id: 'org_1' })
    const pending = await runCliJson<Row[]>(history.testDb, [
      'deliveries',
      'list',
      '--status',
      'pending',
      '--limit',
      '1',
    ])
    expect(pending.map((row) => row.id)).toEqual([dlv(10)])
    const recent = await runCliJson<Row[]>(history.testDb, [
      'deliveries',
      'list',
      '--since',
      '2d',
      '--limit',
      '100',
    ])
    expect(recent.map((row) => row.id).sort()).toEqual([1, 2, 3, 4, 7, 8, 9, 10].map(dlv))
    const since = new Date(Date.now() - 5 * 86_400_000).toISOString()
    const iso = await runCliJson<Row[]>(history.testDb, [
      'deliveries',
      'list',
      '--org',
      'org_2',
      '--since',
      since,
    ])
    expect(iso.map((row) => row.id)).toEqual([dlv(6)])
  })

  it('prints just the header when nothing matches', async () => {
    const result = await cli('deliveries', 'list', '--endpoint', 'ep_4')
    expect(result.code).toBe(0)
    expect(result.out.split('\n')).toHaveLength(1)
  })

  it('exits 1 for an unknown org or endpoint rather than print an empty list', async () => {
    expect(await cli('deliveries', 'list', '--org', 'org_nobody')).toMatchObject({
      code: 1,
      err: 'error: no org org_nobody: it has no events, endpoints or secret',
    })
    expect(await cli('deliveries', 'list', '--endpoint', 'ep_nobody')).toMatchObject({
      code: 1,
      err: 'error: no endpoint ep_nobody',
    })
  })

  it.each([
    // The API's check of the status (the CLI has no second one).
    [['--status', 'failed'], "status.0 must be pending, delivered or dropped, got 'failed'"],
    [['--since', 'yesterday'], '--since must be an ISO timestamp'],
    [['--limit', '0'], '--limit must be a whole number'],
    [['--limit', 'ten'], '--limit must be a whole number'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('exits 2 with usage on bad arguments: %j', async (args, message) => {
    const result = await cli('deliveries', 'list', ...args)
    expect(result.code).toBe(2)
    expect(result.err).toContain(message)
    expect(result.err).toContain('usage: imtegrate-webhooks deliveries')
  })
})

describe('deliveries show', () => {
  it('prints the delivery and all its attempts, marking where a replay began', async () => {
    const result = await cli('deliveries', 'show', dlv(1))
    expect(result.code).toBe(0)
    expect(result.out).toMatch(new RegExp(`^delivery:\\s+${dlv(1)}$`, 'm'))
    expect(result.out).toMatch(/^event:\s+evt_e1 \(image\.completed, img_xyz\)$/m)
    expect(result.out).toMatch(/^status:\s+delivered$/m)
    expect(result.out).toMatch(/^attempts:\s+3 \(replays: 1\)$/m)
    const table = result.out.slice(result.out.indexOf('ATTEMPT')).split('\n')
    expect(table[0]).toMatch(
      /^ATTEMPT\s+REPLAY\s+STARTED_AT\s+DURATION_MS\s+STATUS_CODE\s+OUTCOME\s+ERROR\s+RESPONSE$/,
    )
    expect(
      table.slice(1, 4).map((line) => line.split(/\s+/).filter((_, i) => [0, 1, 4, 5].includes(i))),
    ).toEqual([
      ['1', '0', '500', 'retrying'],
      ['2', '0', '500', 'dropped'],
      ['3', '1', '200', 'delivered'],
    ])
    expect(table[4]).toMatch(/^replay 1 began with attempt 3 at \d{4}-/)
  })

  it('prints the delivery with an attempt_log under --json', async () => {
    const shown = await runCliJson<{
      id: string
      status: string
      attempt_log: Array<Record<string, unknown>>
    }>(history.testDb, ['deliveries', 'show', dlv(2)])
    expect(shown).toMatchObject({ id: dlv(2), status: 'dropped', replays: 0, last_error: expect.any(String) })
    expect(shown.attempt_log.map((a) => [a['attempt'], a['error'], a['outcome']])).toEqual([
      [1, 'timeout: no complete answer within 10s', 'retrying'],
      [2, 'http_503: the receiver answered 503', 'dropped'],
    ])
    // Regression: what the receiver answered was stored but shown nowhere.
    expect(shown.attempt_log.map((a) => a['response_excerpt'])).toEqual([
      null,
      '{"error": "busy",\n  "retry": "later, please: the queue is full"}',
    ])
  })

  it("shows a receiver's control characters as escapes, never raw to the terminal", async () => {
    // Regression: an answer's escape sequences reached the operator's terminal as they were.
    const result = await cli('deliveries', 'show', dlv(1))
    expect(result.out.replaceAll('\n', '')).not.toMatch(/\p{Cc}/u)
    const rows = result.out.slice(result.out.indexOf('ATTEMPT')).split('\n')
    expect(rows[1]).toMatch(
      /retrying\s+http_500: the receiver answered 500\s+\\x1b\]0;title\\x07\\x1b\[2Jgone 😀😀😀$/,
    )
    // An empty answer shows as nothing, like no answer.
    expect(rows[2]).toMatch(/dropped\s+http_500: the receiver answered 500\s+-$/)
  })

  it("shows each attempt's answer on one line, cut short", async () => {
    const result = await cli('deliveries', 'show', dlv(2))
    const rows = result.out.slice(result.out.indexOf('ATTEMPT')).split('\n')
    expect(rows[1]).toMatch(/retrying\s+timeout: no complete answer within 10s\s+-$/)
    expect(rows[2]).toMatch(
      /dropped\s+http_503: the receiver answered 503\s+\{"error": "busy", "retry": "later, plea…$/,
    )
  })

  it('says when a delivery has no attempts yet', async () => {
    const result = await cli('deliveries', 'show', dlv(10))
    expect(result.code).toBe(0)
    expect(result.out).toContain('no attempts yet')
  })

  it('exits 1 for an unknown delivery id and 2 without one', async () => {
    const unknown = await cli('deliveries', 'show', 'dlv_nope')
    expect(unknown).toMatchObject({ code: 1, err: 'error: no delivery dlv_nope' })
    expect((await cli('deliveries', 'show')).code).toBe(2)
    expect((await cli('deliveries', 'show', 'a', 'b')).code).toBe(2)
    expect((await cli('deliveries')).code).toBe(2)
    expect((await cli('deliveries', 'remove')).code).toBe(2)
  })

  it('prints its usage with --help', async () => {
    const result = await cli('deliveries', '--help')
    expect(result.code).toBe(0)
    expect(result.out).toContain('deliveries <list|show>')
  })
})
