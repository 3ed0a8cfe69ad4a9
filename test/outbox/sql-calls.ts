import type pg from 'pg'

/** Arguments of webhooks.record_render_status, as the SQL function takes them (any may be hostile). */
export type RenderArgs = {
  org_id: unknown
  render_id: unknown
  kind: unknown
  status: unknown
  template_id?: unknown
  result_url?: unknown
  duration_ms?: unknown
  webhook_url?: unknown
  collection_id?: unknown
  error?: unknown
}

export type CollectionArgs = {
  org_id: unknown
  collection_id: unknown
  child_count: unknown
  template_id?: unknown
  webhook_url?: unknown
}

/** What a failed call raised: the fields a caller can branch on and show. */
export type SqlError = { code: string | undefined; message: string }

export function asSqlError(error: unknown): SqlError {
  const e = error as { code?: unknown; message?: unknown }
  return { code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message) }
}

// Parameters untyped, as a driver sends them: PostgreSQL gives each the function's argument type.
const RENDER_SQL = `select webhooks.record_render_status(org_id => $1, render_id => $2, kind => $3,
  status => $4, template_id => $5, result_url => $6, duration_ms => $7, webhook_url => $8,
  collection_id => $9, error => $10::jsonb) as event_id`

const COLLECTION_SQL = `select webhooks.open_collection(org_id => $1, collection_id => $2,
  child_count => $3, template_id => $4, webhook_url => $5)`

/** Calls record_render_status as the render service would, parameters sent as pg sends them. */
export async function callRecord(client: pg.ClientBase, a: RenderArgs): Promise<string | null> {
  const { rows } = await client.query<{ event_id: string | null }>(RENDER_SQL, [
    a.org_id,
    a.render_id,
    a.kind,
    a.status,
    a.template_id ?? null,
    a.result_url ?? null,
    a.duration_ms ?? null,
    a.webhook_url ?? null,
    a.collection_id ?? null,
    a.error ?? null,
  ])
  return rows[0]?.event_id ?? null
}

export async function callOpenCollection(client: pg.ClientBase, a: CollectionArgs): Promise<void> {
  await client.query(COLLECTION_SQL, [
    a.org_id,
    a.collection_id,
    a.child_count,
    a.template_id ?? null,
    a.webhook_url ?? null,
  ])
}

/** Runs `fn` in a transaction that is always rolled back; resolves to its error, or undefined. */
export async function failureOf(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<unknown>) {
  const client = await pool.connect()
  try {
    await client.query('begin')
    await fn(client)
    return undefined
  } catch (error) {
    return asSqlError(error)
  } finally {
    await client.query('rollback').catch(() => undefined)
    client.release()
  }
}
