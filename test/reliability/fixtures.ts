import type { ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'kysely'
import { recordRenderStatus } from '../../src/outbox/record.ts'
import type { TestDb } from '../helpers/database.ts'

export const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`

export async function giveOrgASecret(testDb: TestDb, orgId = 'org_1'): Promise<void> {
  await testDb.db.insertInto('webhooks.org_secrets').values({ org_id: orgId, secret: SECRET }).execute()
}

let renderSeq = 0

/** Records a completed image render of `orgId` whose webhook_url is `url`; returns the event id. */
export async function recordCompleted(testDb: TestDb, url: string, orgId = 'org_1'): Promise<string> {
  const eventId = await testDb.db.transaction().execute((trx) =>
    recordRenderStatus(trx, {
      orgId,
      renderId: `img_${process.pid}_${++renderSeq}`,
      kind: 'image',
      status: 'completed',
      templateId: 'tpl_abc',
      resultUrl: 'https://storage.imtegrate.com/r.png',
      durationMs: 1000,
      webhookUrl: url,
    }),
  )
  if (eventId === null) {
    throw new Error('no event recorded')
  }
  return eventId
}

/** The delivery of `eventId` as it stands now (webhooks.delivery_state: in_flight while leased). */
export async function deliveryOf(testDb: TestDb, eventId: string) {
  return testDb.db
    .selectFrom('webhooks.delivery_state')
    .selectAll()
    .select('delivery_id as id')
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow()
}

export async function attemptsOf(testDb: TestDb, eventId: string) {
  const { rows } = await sql<{
    attempt_no: number
    status_code: number | null
    error_code: string | null
    outcome: string
    started_at: Date
    retry_at: Date | null
  }>`
    select a.attempt_no, a.status_code, a.error_code, a.outcome, a.started_at, a.retry_at
    from webhooks.attempts a join webhooks.deliveries d on d.id = a.delivery_id
    where d.event_id = ${eventId} order by a.attempt_no`.execute(testDb.db)
  return rows
}

/** What a stopped worker must not leave behind: locked graphile-worker jobs, deliveries in flight. */
export async function leftLocked(testDb: TestDb): Promise<{ jobs: number; inFlight: number }> {
  const { rows } = await sql<{ jobs: number; inFlight: number }>`
    select (select count(*)::int from graphile_worker.jobs where locked_by is not null) as "jobs",
      (select count(*)::int from webhooks.delivery_queue where leased) as "inFlight"`.execute(testDb.db)
  return rows[0] ?? { jobs: -1, inFlight: -1 }
}

/** A receiver that holds every request until the test answers it: "slow" on cue. */
export type Gate = {
  url: string
  held: number
  answered: number
  /** Answers every held request (and any later one at once) with `status`. */
  open(status?: number): void
  close(): Promise<void>
}

export async function startGate(): Promise<Gate> {
  const waiting: ServerResponse[] = []
  let status: number | undefined
  const gate: Gate = {
    url: '',
    held: 0,
    answered: 0,
    open(answer = 200) {
      status = answer
      for (const res of waiting.splice(0)) {
        res.writeHead(answer).end('ok')
        gate.answered++
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (status === undefined) {
        gate.held++
        waiting.push(res)
      } else {
        res.writeHead(status).end('ok')
        gate.answered++
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  gate.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/gate`
  return gate
}
