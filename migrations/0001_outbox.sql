-- imtegrate-webhooks: the outbox, destinations, deliveries and the attempt log.
-- Forward-only: never edit this file once it has landed; add 0002_… instead.

create schema if not exists webhooks;

-- Time-ordered ids: 12 hex digits of milliseconds, then 20 random hex digits (79 bits).
-- Ordered ids keep the primary-key B-trees append-mostly at millions of rows. PL/pgSQL rather
-- than SQL so the plan is cached per session, and random() rather than gen_random_uuid(): ids
-- need to be unique, not secret, and the strong generator costs more than the rest of the call.
create function webhooks.new_id(prefix text) returns text
language plpgsql volatile parallel safe as $$
begin
  return prefix || '_'
    || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
    || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0')
    || lpad(to_hex((random() * 134217728)::bigint), 7, '0');
end $$;

-- Raises invalid_parameter_value (22023) naming the argument.
create function webhooks.invalid(argument text, problem text) returns void
language plpgsql as $$
begin
  raise exception using errcode = '22023', message = format('%s %s', argument, problem),
    hint = 'see the webhooks.record_render_status / open_collection argument list';
end $$;

create function webhooks.check_id(argument text, value text) returns void
language plpgsql immutable as $$
begin
  if value is null or value = '' then
    perform webhooks.invalid(argument, 'is required');
  elsif length(value) > 200 then
    perform webhooks.invalid(argument, format('is %s characters long; the limit is 200', length(value)));
  elsif value !~ '^[A-Za-z0-9_.:-]+$' then
    perform webhooks.invalid(argument, 'may contain only letters, digits and _ . : -');
  end if;
end $$;

-- Destination URLs: http or https, a host, no credentials, no fragment, at most 2,048 characters.
-- Addresses are checked again at connect time by the worker (private targets are refused there).
create function webhooks.check_url(argument text, value text) returns void
language plpgsql immutable as $$
begin
  if value is null then
    return;
  elsif length(value) > 2048 then
    perform webhooks.invalid(argument, format('is %s characters long; the limit is 2048', length(value)));
  elsif value !~* '^https?://[^/?#\s]+([/?][^\s#]*)?$' then
    perform webhooks.invalid(argument, format('must be an absolute http(s) URL without spaces or fragment, got %L', left(value, 100)));
  elsif substring(value from '^[A-Za-z]+://([^/?#]*)') like '%@%' then
    perform webhooks.invalid(argument, 'must not contain credentials');
  elsif value ~ '[[:cntrl:]]' then
    perform webhooks.invalid(argument, 'must not contain control characters');
  end if;
end $$;

-- The organization's render-webhook secret signs deliveries to a render's own webhook_url.
-- Secrets are stored as written by the application: `whsec_…`, or an encrypted envelope.
create table webhooks.org_secrets (
  org_id text primary key,
  secret text not null,
  previous_secret text,
  previous_expires_at timestamptz,
  created_at timestamptz not null default now(),
  rotated_at timestamptz
);

create table webhooks.endpoints (
  id text primary key,
  org_id text not null,
  url text not null,
  description text,
  event_types text[],          -- null: every event type; entries may end in '*' ('video.*')
  secret text not null,
  previous_secret text,
  previous_expires_at timestamptz,
  enabled boolean not null default true,
  disabled_reason text,
  disabled_at timestamptz,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- Does an endpoint subscribed to `patterns` (null: everything) receive events of `type`?
-- A pattern is an exact type or a prefix ending in '*': 'video.*'.
create function webhooks.event_type_matches(patterns text[], type text) returns boolean
language sql immutable parallel safe as $$
  select patterns is null or exists (
    select 1 from unnest(patterns) as p
    where p = type or (right(p, 1) = '*' and left(type, length(p) - 1) = left(p, length(p) - 1))
  )
$$;

create index endpoints_org_enabled on webhooks.endpoints (org_id) where enabled and deleted_at is null;

-- The outbox: one row per webhook event, written in the render service's own transaction.
create table webhooks.events (
  id text primary key,
  org_id text not null,
  type text not null,
  subject_id text not null,          -- the render or collection the event is about
  webhook_url text,                  -- the render's (or collection's) own destination
  data json not null,                -- `data` of the body, keys in contract order
  created_at timestamptz not null,   -- to the second, as sent in the body
  fanned_out_at timestamptz
);
-- Tiny while the dispatcher keeps up: only events not yet fanned out are in it.
create index events_unfanned on webhooks.events (id) where fanned_out_at is null;
-- One event per render (and one per collection): a repeated terminal report meets this key and
-- makes no second event. The same index answers "the history of one render".
create unique index events_subject on webhooks.events (org_id, subject_id, (type = 'collection.completed'));

create table webhooks.collections (
  org_id text not null,
  id text not null,
  template_id text,
  webhook_url text,
  child_count integer not null check (child_count > 0),
  completed integer not null default 0,
  failed integer not null default 0,
  event_id text,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  primary key (org_id, id),
  check (completed + failed <= child_count)
);

-- One delivery per (event, destination). Its id is the idempotency key receivers see on every
-- attempt and replay. status: pending (waiting for next_attempt_at), in_flight (leased to a
-- worker until lease_until), delivered, dropped.
create table webhooks.deliveries (
  id text primary key,
  event_id text not null references webhooks.events (id),
  org_id text not null,
  destination text not null,        -- an endpoint id, or 'render_url'
  endpoint_id text,
  url text not null,
  status text not null default 'pending'
    check (status in ('pending', 'in_flight', 'delivered', 'dropped')),
  attempts integer not null default 0,   -- attempts started, all budgets
  failures integer not null default 0,   -- failed attempts in the current retry budget
  replays integer not null default 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  delivered_at timestamptz,
  dropped_at timestamptz,
  unique (event_id, destination)
);
create index deliveries_due on webhooks.deliveries (next_attempt_at) where status = 'pending';
create index deliveries_leased on webhooks.deliveries (lease_until) where status = 'in_flight';
create index deliveries_dropped on webhooks.deliveries (dropped_at) where status = 'dropped';
create index deliveries_org on webhooks.deliveries (org_id, created_at);
create index deliveries_endpoint on webhooks.deliveries (endpoint_id, created_at) where endpoint_id is not null;

-- The attempt log: one row per HTTP attempt (and one per attempt lost with its worker).
-- No foreign key: it is the hottest table, and rows are only written from claimed deliveries.
create table webhooks.attempts (
  id bigint generated always as identity primary key,
  delivery_id text not null,
  attempt_no integer not null,
  replay_no integer not null default 0,
  org_id text not null,
  endpoint_id text,
  started_at timestamptz not null,
  duration_ms integer not null,
  status_code integer,
  error_code text,
  error_message text,
  response_excerpt text,             -- at most 4 KB of the answer
  outcome text not null check (outcome in ('delivered', 'retrying', 'dropped', 'lost')),
  retry_at timestamptz,
  unique (delivery_id, attempt_no)
);
create index attempts_started on webhooks.attempts (started_at);
create index attempts_endpoint on webhooks.attempts (endpoint_id, started_at) where endpoint_id is not null;

-- One row per running worker pool: its heartbeat (the reconciler frees the graphile-worker jobs
-- of pools that stopped beating) and how long its dispatcher promises to keep polling.
create table webhooks.worker_pools (
  id text primary key,
  hostname text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  polling_until timestamptz
);

-- The coalesced wake-up. While some dispatcher is polling the outbox anyway, recording an event
-- sends nothing; otherwise one NOTIFY (delivered at commit). NOTIFY serializes committing
-- transactions on a global lock, so a notify per event would be the most expensive part of
-- recording. A dispatcher keeps polling for a grace period after the time it advertises.
create function webhooks.wake_dispatcher() returns void
language plpgsql volatile as $$
begin
  if not exists (select 1 from webhooks.worker_pools where polling_until > clock_timestamp()) then
    perform pg_notify('webhooks_outbox', '');
  end if;
end $$;
