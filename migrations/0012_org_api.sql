-- The org-scoped management API (TypeScript and HTTP): example events, bulk recovery runs,
-- API keys and idempotent POSTs; and argument errors that name their argument in a field of
-- their own.

-- An example event sent to one endpoint from the API: delivered like any other, with a header
-- that marks it as a test. It is written with its one delivery, already fanned out, so it never
-- reaches another destination; its subject id holds '#', which no render id may
-- (webhooks.check_id), so it can never take a render's place in events_subject. Recording does
-- not name the column: a constant default costs it nothing.
alter table webhooks.events add column test boolean not null default false;

-- Argument errors (22023) carry the argument's name in the error's COLUMN field as well as in
-- the message, so callers (the HTTP API's problem details) can point at the field without
-- reading the message. Only the error path runs this.
create or replace function webhooks.invalid(argument text, problem text) returns void
language plpgsql as $$
begin
  raise exception using errcode = '22023', message = format('%s %s', argument, problem),
    column = argument,
    hint = 'see the webhooks.record_render_status / open_collection argument list';
end $$;

-- A bulk recovery: replays an endpoint's dropped deliveries made in [since, until) as a
-- graphile-worker job. `total` is the count when it was started; `cursor` is the last delivery id
-- it has passed, written in the same transaction as that batch's replays, so a run whose worker
-- died goes on after the last batch that committed and replays nothing twice.
create table webhooks.recoveries (
  id text primary key,
  org_id text not null,
  endpoint_id text not null,
  since timestamptz not null,
  until timestamptz not null,
  status text not null default 'queued' check (status in ('queued', 'running', 'completed')),
  total integer not null,
  processed integer not null default 0,
  replayed integer not null default 0,
  skipped integer not null default 0,
  cursor text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  check (since < until)
);
create index recoveries_org on webhooks.recoveries (org_id, id);

-- Keys for the HTTP API (the render service's backend). Only a hash of the secret part is kept;
-- the key is shown once, when it is created.
create table webhooks.api_keys (
  id text primary key,
  name text not null check (length(name) between 1 and 200),
  secret_hash text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

-- Answers to POSTs that carried an Idempotency-Key, per caller, written in the same transaction
-- as what the POST changed. A repeat gets the stored answer; the same key with another request is
-- refused. The answer is sealed like a secret: a create's answer holds the new secret.
create table webhooks.idempotency_keys (
  principal text not null,
  key text not null,
  request_hash text not null,
  status_code integer not null,
  response text not null,
  created_at timestamptz not null default now(),
  primary key (principal, key)
);
create index idempotency_keys_created on webhooks.idempotency_keys (created_at);
