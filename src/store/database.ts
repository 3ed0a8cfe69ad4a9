import { setTimeout as delay } from 'node:timers/promises'
import type {
  PostgresCursor,
  PostgresPool,
  PostgresPoolClient,
  PostgresQueryResult,
  Transaction,
} from 'kysely'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { WebhookError } from '../errors.ts'
import type { Logger } from '../logger.ts'

// Timestamps and bigints come back as strings/Dates as pg gives them; int8 (attempt ids,
// counts) is parsed to number: none of ours can exceed 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))

type Generated<T> = import('kysely').Generated<T>

export interface OrgSecretsTable {
  org_id: string
  secret: string
  previous_secret: string | null
  previous_expires_at: Date | null
  created_at: Generated<Date>
  rotated_at: Date | null
}

export interface EndpointsTable {
  id: string
  org_id: string
  url: string
  description: string | null
  event_types: string[] | null
  secret: string
  previous_secret: string | null
  previous_expires_at: Date | null
  enabled: Generated<boolean>
  disabled_reason: string | null
  disabled_at: Date | null
  deleted_at: Date | null
  created_at: Generated<Date>
  updated_at: Generated<Date>
  /** Requests in flight across all workers; null: WEBHOOK_DESTINATION_CONCURRENCY. */
  max_in_flight: number | null
  /** Requests per second; null: no limit. */
  rate_limit: number | null
}

export interface EventsTable {
  id: string
  org_id: string
  type: string
  subject_id: string
  webhook_url: string | null
  data: unknown
  created_at: Date
  fanned_out_at: Date | null
  /** An example sent from the API to one endpoint, not a render's event. */
  test: Generated<boolean>
  /** Set when the event could not be fanned out (a fault tied to its data); fanned_out_at is set too. */
  fan_out_error: string | null
}

/** A delivery's status as its row keeps it: pending until it settles. */
export type DeliveryStatus = 'pending' | 'delivered' | 'dropped'
/** As operators see it (webhooks.delivery_state): pending deliveries being attempted are in_flight. */
export type LiveStatus = DeliveryStatus | 'in_flight'

export interface DeliveriesTable {
  id: string
  event_id: string
  org_id: string
  destination: string
  endpoint_id: string | null
  url: string
  status: Generated<DeliveryStatus>
  attempts: Generated<number>
  failures: Generated<number>
  replays: Generated<number>
  last_status_code: number | null
  last_error: string | null
  created_at: Generated<Date>
  updated_at: Generated<Date>
  delivered_at: Date | null
  dropped_at: Date | null
}

export type AttemptOutcome = 'delivered' | 'retrying' | 'dropped' | 'lost'

export interface AttemptsTable {
  id: Generated<number>
  delivery_id: string
  attempt_no: number
  replay_no: number
  org_id: string
  endpoint_id: string | null
  started_at: Date
  duration_ms: number
  status_code: number | null
  error_code: string | null
  error_message: string | null
  response_excerpt: string | null
  outcome: AttemptOutcome
  retry_at: Date | null
}

/** A destination's delivery state: see migrations/0013_fair_delivery.sql. */
export interface DestinationsTable {
  id: Generated<number>
  key: string
  org_id: string
  endpoint_id: string | null
  origin: string | null
  ready_at: Date | null
  saturated: Generated<boolean>
  send_window: Generated<number>
  failure_streak: Generated<number>
  backoff_since: Date | null
  backoff_until: Date | null
  tokens: Generated<number>
  tokens_at: Generated<Date>
  last_error: string | null
  last_error_at: Date | null
  /** Set aside until then: claiming its deliveries failed on their data (src/worker/intake.ts). */
  set_aside_until: Date | null
  created_at: Generated<Date>
}

/** A delivery with attempts to come: due_at is its next attempt, or its lease's end while leased. */
export interface DeliveryQueueTable {
  delivery_id: string
  destination_id: number
  due_at: Date
  leased: Generated<boolean>
  leased_by: string | null
  attempts: Generated<number>
  failures: Generated<number>
  replays: Generated<number>
  last_status_code: number | null
  last_error: string | null
}

/** webhooks.delivery_state: a delivery as it stands now (a view). */
export interface DeliveryStateView {
  delivery_id: string
  event_id: string
  org_id: string
  destination: string
  endpoint_id: string | null
  url: string
  status: LiveStatus
  attempts: number
  failures: number
  replays: number
  next_attempt_at: Date | null
  last_status_code: number | null
  last_error: string | null
  created_at: Date
  delivered_at: Date | null
  dropped_at: Date | null
  destination_id: number | null
}

/** webhooks.destination_status: a destination's delivery state now (a view). */
export interface DestinationStatusView {
  destination_id: number
  org_id: string
  endpoint_id: string | null
  target: string
  max_in_flight: number | null
  rate_limit: number | null
  in_flight: number
  due: number
  waiting: number
  state: 'healthy' | 'backing_off'
  backoff_since: Date | null
  backoff_until: Date | null
  send_window: number
  last_error: string | null
  last_error_at: Date | null
}

export interface WorkerPoolsTable {
  id: string
  hostname: string
  pid: number
  started_at: Generated<Date>
  heartbeat_at: Generated<Date>
  polling_until: Date | null
}

export type RecoveryStatus = 'queued' | 'running' | 'completed'

export interface RecoveriesTable {
  id: string
  org_id: string
  endpoint_id: string
  since: Date
  until: Date
  status: Generated<RecoveryStatus>
  total: number
  processed: Generated<number>
  replayed: Generated<number>
  skipped: Generated<number>
  cursor: Generated<string>
  created_at: Generated<Date>
  updated_at: Generated<Date>
  finished_at: Date | null
}

export interface ApiKeysTable {
  id: string
  name: string
  secret_hash: string
  created_at: Generated<Date>
  revoked_at: Date | null
}

export interface IdempotencyKeysTable {
  principal: string
  key: string
  request_hash: string
  status_code: number
  response: string
  created_at: Generated<Date>
}

export type PortalCapabilityName = 'manage_endpoints' | 'replay' | 'view_secrets'

export interface PortalLinksTable {
  id: string
  org_id: string
  secret_hash: string
  capabilities: PortalCapabilityName[]
  session_seconds: number
  created_at: Generated<Date>
  expires_at: Date
  used_at: Date | null
}

export interface PortalSessionsTable {
  id: string
  org_id: string
  link_id: string
  secret_hash: string
  capabilities: PortalCapabilityName[]
  created_at: Generated<Date>
  expires_at: Date
  revoked_at: Date | null
}

export interface Database {
  'webhooks.org_secrets': OrgSecretsTable
  'webhooks.endpoints': EndpointsTable
  'webhooks.events': EventsTable
  'webhooks.deliveries': DeliveriesTable
  'webhooks.attempts': AttemptsTable
  'webhooks.worker_pools': WorkerPoolsTable
  'webhooks.recoveries': RecoveriesTable
  'webhooks.api_keys': ApiKeysTable
  'webhooks.idempotency_keys': IdempotencyKeysTable
  'webhooks.portal_links': PortalLinksTable
  'webhooks.portal_sessions': PortalSessionsTable
  'webhooks.destinations': DestinationsTable
  'webhooks.delivery_queue': DeliveryQueueTable
  'webhooks.delivery_state': DeliveryStateView
  'webhooks.destination_status': DestinationStatusView
}

export type Db = Kysely<Database>
export type Trx = Transaction<Database>

/**
 * Runs `fn` in a transaction: the caller's, when `db` already is one (an HTTP request that
 * stores its idempotent answer with what it changed), or a new one.
 */
export function transact<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db as Trx) : db.transaction().execute(fn)
}

/**
 * A pg pool that logs (rather than crashes on) errors of idle clients, as pg requires. Its
 * connections show in pg_stat_activity as `applicationName`, and send TCP keepalives: a route
 * that silently drops an idle connection is noticed before a statement is sent into it. A new
 * connection that is not made within `connectTimeoutMs` (30 s) fails rather than waits.
 */
export function createPool(
  connectionString: string,
  max: number,
  logger?: Logger,
  applicationName = 'imtegrate-webhooks',
  connectTimeoutMs = 30_000,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // Also bounds the wait for a free client: one this long is a stall, better reported than kept.
    connectionTimeoutMillis: connectTimeoutMs,
  })
  const onError = (error: Error) => logger?.warn({ err: error }, 'database connection error')
  pool.on('error', onError)
  pool.on('connect', (client) => {
    client.on('error', onError)
  })
  return pool
}

/** One round trip: rejects with pg's error when the database cannot be used. */
export async function ping(pool: pg.Pool): Promise<void> {
  await pool.query('select 1')
}

/**
 * Kysely over the pool. With `deadlineMs`, no statement waits longer than that for its answer:
 * it fails, its connection is destroyed rather than pooled again, and its backend is terminated.
 * Without it, a connection that went silent (a peer gone without a word, a frozen server, a
 * proxy that stopped forwarding) keeps its caller waiting until TCP gives up, a quarter of an
 * hour later, while the rest of the process, on other connections, looks healthy.
 */
export function createDb(pool: pg.Pool, deadlineMs?: number): Db {
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: deadlineMs === undefined ? pool : withDeadline(pool, deadlineMs) }),
  })
}

/** A statement, or the wait for a connection, that outlasted its deadline. */
export class DeadlineError extends WebhookError {
  override readonly name = 'DeadlineError'
  /** Settles once the server side of what was given up on is gone, with its locks. */
  readonly ended: Promise<void>

  constructor(message: string, ended: Promise<void> = Promise.resolve()) {
    super('DEADLINE_EXCEEDED', message)
    this.ended = ended
  }
}

function withDeadline(pool: pg.Pool, deadlineMs: number): PostgresPool {
  return {
    options: pool.options,
    end: () => pool.end(),
    connect: async () => {
      // All clients busy, or a connect that hangs: an error once the deadline passed.
      const connecting = pool.connect()
      const client = await raceDeadline(connecting, deadlineMs, () => {
        // Arriving late, it goes back to the pool unused.
        connecting.then(
          (late) => late.release(),
          () => undefined,
        )
        return new DeadlineError(`no PostgreSQL connection within ${deadlineMs} ms`)
      })
      return new DeadlineClient(client, pool, deadlineMs)
    },
  }
}

/**
 * `work`'s result, or the error `missed` returns once `ms` passed with `work` still unsettled;
 * `missed` also does what giving up takes (release, destroy). A late failure of `work` is ignored.
 */
export async function raceDeadline<T>(work: Promise<T>, ms: number, missed: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      work.catch(() => undefined)
      reject(missed())
    }, ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Ends the server side of a connection given up on, over a connection of its own: a statement
 * blocked on a lock would otherwise run on after its client left, holding its locks and its
 * transaction, and every retry would leave one more such backend. Settles (never rejects) once
 * the backend is gone, so its locks are free, or once `deadlineMs` passed. Best effort: a server
 * that cannot be reached ends the backend itself once it notices that its client is gone.
 */
export async function terminateBackend(
  pool: pg.Pool,
  client: pg.ClientBase,
  deadlineMs: number,
): Promise<void> {
  // pg's Client has processID (the backend's pid, from the start-up handshake), untyped.
  const pid = (client as { processID?: unknown }).processID
  if (typeof pid !== 'number') {
    return
  }
  const control = new pg.Client({
    ...pool.options,
    application_name: 'imtegrate-webhooks-control',
    connectionTimeoutMillis: deadlineMs,
    query_timeout: deadlineMs,
  })
  control.on('error', () => undefined)
  const giveUpAt = Date.now() + deadlineMs
  try {
    await control.connect()
    await control.query('select pg_terminate_backend($1)', [pid])
    // pg_terminate_backend only signals; the backend rolls back and exits when it next checks.
    while (Date.now() < giveUpAt) {
      const { rowCount } = await control.query('select 1 from pg_stat_activity where pid = $1', [pid])
      if (rowCount === 0) {
        return
      }
      await delay(10)
    }
  } catch {
    // Unreachable, or gone already: nothing more to do.
  } finally {
    await control.end().catch(() => undefined)
  }
}

class DeadlineClient implements PostgresPoolClient {
  readonly #client: pg.PoolClient
  readonly #pool: pg.Pool
  readonly #deadlineMs: number
  /** Set once a statement missed the deadline: the connection is never used again. */
  #silent: Error | undefined

  constructor(client: pg.PoolClient, pool: pg.Pool, deadlineMs: number) {
    this.#client = client
    this.#pool = pool
    this.#deadlineMs = deadlineMs
  }

  query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>>
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
  query<R>(
    sql: string | PostgresCursor<R>,
    parameters: readonly unknown[] = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sql !== 'string') {
      throw new WebhookError('INTERNAL', 'streaming queries are not used here and have no deadline')
    }
    return this.#query<R>(sql, parameters)
  }

  async #query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    if (this.#silent !== undefined) {
      throw this.#silent
    }
    // The abandoned statement fails for good when its connection is destroyed, on release.
    const answer = this.#client.query(sql, [...parameters])
    return (await raceDeadline(answer, this.#deadlineMs, () => {
      this.#silent = new DeadlineError(
        `PostgreSQL did not answer within ${this.#deadlineMs} ms; the connection is dropped`,
        terminateBackend(this.#pool, this.#client, this.#deadlineMs),
      )
      return this.#silent
    })) as PostgresQueryResult<R>
  }

  /** pg destroys the socket of a client released with an error while a statement is pending. */
  release(destroy?: boolean): void {
    this.#client.release(this.#silent ?? destroy)
  }
}
