import type pg from 'pg'

/**
 * The naive dispatcher's own lean schema, in schema `naive` of the bench database: what a
 * competent engineer writes for the job, not handicapped by this project's tables. Events keep
 * what a body needs; deliveries have their key, a due index and an event index; attempts their
 * key and a delivery index.
 */
export async function createNaiveSchema(pool: pg.Pool): Promise<void> {
  await pool.query(`
    create schema naive;
    create table naive.events (
      id text primary key,
      type text not null,
      created_at timestamptz not null,
      data json not null
    );
    create table naive.deliveries (
      id text primary key,
      event_id text not null references naive.events (id),
      url text not null,
      secret text not null,
      status text not null default 'pending',
      attempts integer not null default 0,
      failures integer not null default 0,
      next_attempt_at timestamptz,
      lease_until timestamptz,
      last_status_code integer,
      last_error text
    );
    create index naive_deliveries_due on naive.deliveries (next_attempt_at) where status = 'pending';
    create index naive_deliveries_event on naive.deliveries (event_id);
    create table naive.attempts (
      id bigint generated always as identity primary key,
      delivery_id text not null,
      attempt_no integer not null,
      started_at timestamptz not null,
      duration_ms integer not null,
      status_code integer,
      error text
    );
    create index naive_attempts_delivery on naive.attempts (delivery_id);`)
}

/**
 * `count` events, each with one delivery due now to `url`, signed with the sealed `secret`, in
 * place of what the schema held (each of the peer's drains starts on fresh tables).
 */
export async function seedNaiveBacklog(
  pool: pg.Pool,
  count: number,
  url: string,
  secret: string,
): Promise<void> {
  await pool.query('truncate naive.attempts, naive.deliveries, naive.events')
  await pool.query(
    `with e as (
       insert into naive.events (id, type, created_at, data)
       select 'evt_naive_' || g, 'image.completed', date_trunc('second', now()),
         json_build_object('id', 'img_naive_' || g, 'status', 'completed',
           'result_url', 'https://storage.imtegrate.com/renders/img_naive_' || g || '.png',
           'template_id', 'tpl_bench', 'duration_ms', 3210)
       from generate_series(1, $1::int) g
       returning id)
     insert into naive.deliveries (id, event_id, url, secret, next_attempt_at)
     select 'dlv_naive_' || substr(e.id, 11), e.id, $2, $3, now() from e`,
    [count, url, secret],
  )
  await pool.query('vacuum analyze naive.events, naive.deliveries')
}

/** The naive dispatcher's work left: deliveries due or in flight. */
export const NAIVE_REMAINING = `(select count(*) from naive.deliveries
  where status = 'in_flight' or (status = 'pending' and next_attempt_at <= now()))`
