import type { WebhooksApi } from '../api/webhooks-api.ts'
import { createWebhooksApi } from '../api/webhooks-api.ts'
import { loadConfig } from '../config.ts'
import { generateSecret } from '../delivery/sign.ts'
import type { EmbeddedPostgres } from '../dev/embedded-postgres.ts'
import { EMBEDDED_URL, startEmbeddedPostgres } from '../dev/embedded-postgres.ts'
import type { Arrival, ListenReceiver } from '../dev/listen-receiver.ts'
import { startListenReceiver } from '../dev/listen-receiver.ts'
import { recordSamples } from '../dev/samples.ts'
import type { Verdict } from '../dev/verify.ts'
import { errorText } from '../errors.ts'
import { createLogger } from '../logger.ts'
import { createSecretBox } from '../secret-box.ts'
import type { Db } from '../store/database.ts'
import { createDb, createPool } from '../store/database.ts'
import { createEndpoint } from '../store/endpoints.ts'
import { printable, shown } from '../text.ts'
import type { WorkerHandle } from '../worker/runner.ts'
import { startWorker } from '../worker/runner.ts'
import { collect } from './api.ts'
import { probeDatabase } from './context.ts'
import type { Command, Io } from './io.ts'
import { parse, UsageError } from './io.ts'

/** Marks the endpoints this command registers, so one a killed run left is deleted next time. */
const DESCRIPTION = 'imtegrate-webhooks listen (deleted when it stops)'

export const listenCommand: Command = {
  usage: `imtegrate-webhooks listen [--org ORG] [--port PORT]

See webhooks arrive, signed, in a minute: on the embedded PostgreSQL (or DATABASE_URL) it starts a
receiver on 127.0.0.1:PORT (default: any free port), registers it as an endpoint of ORG (default
org_demo), runs a worker that may deliver to 127.0.0.1 (this worker only: WEBHOOK_ALLOW_PRIVATE_TARGETS
is not changed), records a render of each kind reaching each status and a collection, and prints
each webhook as it arrives, with whether its two signatures verify (X-Imtegrate-Signature and
Standard Webhooks). Record more with psql meanwhile. Ctrl-C deletes the endpoint and stops it all.`,
  async run(args, io) {
    const { values } = parse(args, { org: { type: 'string' }, port: { type: 'string' } })
    await listen(io, values.org ?? 'org_demo', port(values.port))
  },
}

function port(text: string | undefined): number {
  if (text === undefined) {
    return 0
  }
  const value = Number(text)
  if (!/^\d{1,5}$/.test(text) || value > 65_535) {
    throw new UsageError(`--port must be a port number (0 to 65535), got ${shown(text, 40)}`)
  }
  return value
}

type Running = {
  embedded?: EmbeddedPostgres
  receiver?: ListenReceiver
  worker?: WorkerHandle
  db?: Db
  api?: WebhooksApi
  /** The endpoint this run registered, and its org. */
  endpoint?: { org: string; endpoint_id: string }
}

async function listen(io: Io, orgId: string, receiverPort: number): Promise<void> {
  const config = loadConfig(io.env)
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr)
  const stop = stopSignal()
  const running: Running = {}
  try {
    if (config.databaseUrl === undefined) {
      io.err('starting the embedded PostgreSQL under .data/ …')
      running.embedded = await startEmbeddedPostgres()
    }
    const databaseUrl = config.databaseUrl ?? EMBEDDED_URL
    const secret = generateSecret()
    running.receiver = await startListenReceiver(secret, receiverPort, (arrival) => io.out(describe(arrival)))
    // Like the worker command: a database that cannot be used is one line (pg's own errors of
    // a connection closed at once have no code), and only the embedded one is migrated here.
    await probeDatabase(databaseUrl, config.queryTimeoutMs)
    running.worker = await startWorker(
      { ...config, databaseUrl, allowPrivateTargets: { all: false, cidrs: ['127.0.0.1/32'] } },
      logger,
      undefined,
      { migrate: running.embedded !== undefined },
    )
    const db = createDb(createPool(databaseUrl, 2, logger))
    running.db = db
    const box = createSecretBox(config.secretsKey, config.secretsKeyPrevious)
    const api = createWebhooksApi({ db, box, rotationGraceMs: config.rotationGraceMs })
    running.api = api
    await deleteLeftovers(api, orgId)
    // Through the store, not the API, which makes the secret: the receiver needs it before it
    // has the URL the endpoint is registered with.
    const endpointId = await createEndpoint(db, {
      orgId,
      url: running.receiver.url,
      sealedSecret: box.seal(secret),
      eventTypes: null,
      description: DESCRIPTION,
    })
    running.endpoint = { org: orgId, endpoint_id: endpointId }
    const events = await recordSamples(db, orgId)
    io.out(introduction(orgId, running.receiver.url, endpointId, databaseUrl, events))
    await stop.requested
  } finally {
    stop.dispose()
    await cleanUp(running, io)
  }
}

/** Endpoints of this command that a run killed outright left behind: they lead nowhere now. */
async function deleteLeftovers(api: WebhooksApi, orgId: string): Promise<void> {
  for (const endpoint of await collect(Number.POSITIVE_INFINITY, (page) => api.listEndpoints(orgId, page))) {
    if (endpoint.description === DESCRIPTION) {
      await api.deleteEndpoint(orgId, { endpoint_id: endpoint.id })
    }
  }
}

async function cleanUp(running: Running, io: Io): Promise<void> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    [
      'delete the endpoint',
      async () => running.endpoint && running.api?.deleteEndpoint(running.endpoint.org, running.endpoint),
    ],
    ['stop the worker', async () => running.worker?.stop()],
    ['close the database', async () => running.db?.destroy()],
    ['close the receiver', async () => running.receiver?.close()],
    [
      'stop the embedded PostgreSQL',
      async () => (running.embedded?.owned ? running.embedded.stop() : undefined),
    ],
  ]
  let clean = true
  for (const [what, step] of steps) {
    await step().catch((error: unknown) => {
      clean = false
      io.err(`could not ${what}: ${errorText(error)}`)
    })
  }
  if (clean && running.endpoint !== undefined) {
    io.err(`stopped; endpoint ${running.endpoint.endpoint_id} deleted`)
  }
}

/**
 * Resolves `requested` at the first SIGINT or SIGTERM (also one during start-up: the command then
 * cleans up as soon as it can); a second one exits at once.
 */
function stopSignal(): { requested: Promise<void>; dispose(): void } {
  let signals = 0
  const { promise: requested, resolve } = Promise.withResolvers<void>()
  const onSignal = () => {
    signals++
    if (signals > 1) {
      process.exit(1)
    }
    resolve()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    requested,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

function introduction(orgId: string, url: string, endpointId: string, databaseUrl: string, events: number) {
  return [
    `listening on ${url}: endpoint ${endpointId} of ${orgId}`,
    `database: ${redacted(databaseUrl)}  (try: psql '${redacted(databaseUrl)}' -c 'table webhooks.delivery_history')`,
    `recorded ${events} sample events (every type, a collection too); each webhook is shown as it arrives. Ctrl-C to stop.`,
  ].join('\n')
}

function describe(arrival: Arrival): string {
  const verdict = (name: string, result: Verdict) =>
    `${name} ${result.ok ? 'verified' : `FAILED (${result.reason})`}`
  const time = new Date().toISOString().slice(11, 19)
  return printable(
    `${time}  ${arrival.type.padEnd(20)}  ${arrival.subject}  ${arrival.deliveryId} attempt ${arrival.attempt}  ${verdict('X-Imtegrate-Signature', arrival.imtegrate)}  ${verdict('webhook-signature', arrival.standard)}`,
  )
}

/** The URL without its password, unless it is the embedded database's well-known one. */
function redacted(url: string): string {
  if (url === EMBEDDED_URL) {
    return url
  }
  const parsed = new URL(url)
  if (parsed.password !== '') {
    parsed.password = '***'
  }
  return parsed.toString()
}
