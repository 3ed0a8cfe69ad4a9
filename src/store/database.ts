import type { Transaction } from 'kysely'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
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
}

export type DeliveryStatus = 'pending' | 'in_flight' | 'delivered' | 'dropped'

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
  next_attempt_at: Date | null
  lease_until: Date | null
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

export interface WorkerPoolsTable {
  id: string
  hostname: string
  pid: number
  started_at: Generated<Date>
  heartbeat_at: Generated<Date>
  polling_until: Date | null
}

export interface Database {
  'webhooks.org_secrets': OrgSecretsTable
  'webhooks.endpoints': EndpointsTable
  'webhooks.events': EventsTable
  'webhooks.deliveries': DeliveriesTable
  'webhooks.attempts': AttemptsTable
  'webhooks.worker_pools': WorkerPoolsTable
}

export type Db = Kysely<Database>
export type Trx = Transaction<Database>

/**
 * A pg pool that logs (rather than crashes on) errors of idle clients, as pg requires. Its
 * connections show in pg_stat_activity as `applicationName`.
 */
export function createPool(
  connectionString: string,
  max: number,
  logger?: Logger,
  applicationName = 'imtegrate-webhooks',
): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: applicationName })
  const onError = (error: Error) => logger?.warn({ err: error }, 'database connection error')
  pool.on('error', onError)
  pool.on('connect', (client) => {
    client.on('error', onError)
  })
  return pool
}

export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}
