-- The schema `webhooks` as the migrations leave it, for reading in one place (graphile-worker's
-- own schema, graphile_worker, is not shown). Generated from a freshly migrated database by
-- `npm run schema` (pg_dump --schema-only, normalised); a test fails when it is stale.
-- Do not edit: change the schema with a new migration, then run `npm run schema`.

CREATE SCHEMA webhooks;

CREATE FUNCTION webhooks.check_event_types(argument text, patterns text[]) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
declare
  pattern text;
  families text[] := array(select distinct split_part(t, '.', 1) || '.*' from unnest(webhooks.event_types()) t);
begin
  if patterns is null then
    return;
  elsif cardinality(patterns) = 0 then
    perform webhooks.invalid(argument, 'must list at least one event type (leave it out to receive every type)');
  end if;
  foreach pattern in array patterns loop
    if pattern is null or not (pattern = any(webhooks.event_types()) or pattern = any(families)) then
      perform webhooks.invalid(argument, format('has unknown event type %s; known: %s, or a family such as video.*',
        coalesce(quote_literal(left(pattern, 60)), 'null'), array_to_string(webhooks.event_types(), ', ')));
    end if;
  end loop;
end $$;

CREATE FUNCTION webhooks.check_id(argument text, value text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
begin
  if value is null or value = '' then
    perform webhooks.invalid(argument, 'is required');
  elsif length(value) > 200 then
    perform webhooks.invalid(argument, format('is %s characters long; the limit is 200', length(value)));
  elsif value !~ '^[A-Za-z0-9_.:-]+$' then
    perform webhooks.invalid(argument, 'may contain only letters, digits and _ . : -');
  end if;
end $_$;

CREATE FUNCTION webhooks.check_url(argument text, value text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
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
  elsif not webhooks.url_ok(value) then
    perform webhooks.invalid(argument, format('has no valid host and port (an ASCII name, a dotted IPv4 address or a bracketed IPv6 one, then a port up to 65535), got %L', left(value, 100)));
  end if;
end $_$;

CREATE FUNCTION webhooks.count_collection_child(org_id text, collection_id text, status text) RETURNS void
    LANGUAGE plpgsql
    AS $$
declare
  c webhooks.collections;
  new_event_id text;
begin
  update webhooks.collections as col
  set completed = col.completed + (count_collection_child.status = 'completed')::int,
      failed = col.failed + (count_collection_child.status = 'failed')::int
  where col.org_id = count_collection_child.org_id and col.id = count_collection_child.collection_id
    and col.completed + col.failed < col.child_count
  returning * into c;

  if not found then
    if exists (select 1 from webhooks.collections col
               where col.org_id = count_collection_child.org_id and col.id = count_collection_child.collection_id) then
      perform webhooks.invalid('collection_id', format('%s already has all of its children finished',
        count_collection_child.collection_id));
    end if;
    perform webhooks.invalid('collection_id', format('%s is not an open collection of org %s (call webhooks.open_collection first)',
      count_collection_child.collection_id, count_collection_child.org_id));
  end if;

  if c.completed + c.failed < c.child_count then
    return;
  end if;

  new_event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (new_event_id, c.org_id, 'collection.completed', c.id, c.webhook_url,
    json_build_object('id', c.id, 'status', 'completed', 'template_id', c.template_id,
      'children', json_build_object('total', c.child_count, 'completed', c.completed, 'failed', c.failed)),
    date_trunc('second', now()));
  update webhooks.collections col set event_id = new_event_id, completed_at = now()
  where col.org_id = c.org_id and col.id = c.id;
end $$;

CREATE FUNCTION webhooks.create_endpoint(org_id text, url text, secret text, event_types text[] DEFAULT NULL::text[], description text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql
    AS $$
declare
  endpoint_id text := webhooks.new_id('ep');
begin
  perform webhooks.check_id('org_id', create_endpoint.org_id);
  if create_endpoint.url is null then
    perform webhooks.invalid('url', 'is required');
  end if;
  perform webhooks.check_url('url', create_endpoint.url);
  perform webhooks.check_event_types('event_types', create_endpoint.event_types);
  if create_endpoint.secret is null or create_endpoint.secret = '' then
    perform webhooks.invalid('secret', 'is required');
  end if;
  if length(create_endpoint.description) > 500 then
    perform webhooks.invalid('description', format('is %s characters long; the limit is 500',
      length(create_endpoint.description)));
  end if;
  insert into webhooks.endpoints (id, org_id, url, description, event_types, secret)
  values (endpoint_id, create_endpoint.org_id, create_endpoint.url, create_endpoint.description,
    create_endpoint.event_types, create_endpoint.secret);
  return endpoint_id;
end $$;

CREATE FUNCTION webhooks.event_type_matches(patterns text[], type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select patterns is null or exists (
    select 1 from unnest(patterns) as p
    where p = type or (right(p, 1) = '*' and left(type, length(p) - 1) = left(p, length(p) - 1))
  )
$$;

CREATE FUNCTION webhooks.event_types() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select array['image.completed', 'image.failed', 'video.completed', 'video.failed', 'collection.completed']
$$;

CREATE FUNCTION webhooks.explain_render_arguments(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
  perform webhooks.check_id('org_id', org_id);
  perform webhooks.check_id('render_id', render_id);
  if kind is null or kind not in ('image', 'video') then
    perform webhooks.invalid('kind', format('must be ''image'' or ''video'', got %s',
      coalesce(quote_literal(left(kind, 40)), 'null')));
  end if;
  if status is null or status not in ('queued', 'rendering', 'completed', 'failed') then
    perform webhooks.invalid('status', format('must be one of queued, rendering, completed, failed, got %s',
      coalesce(quote_literal(left(status, 40)), 'null')));
  end if;
  if template_id is not null then
    perform webhooks.check_id('template_id', template_id);
  end if;
  if collection_id is not null then
    perform webhooks.check_id('collection_id', collection_id);
  end if;
  if duration_ms < 0 then
    perform webhooks.invalid('duration_ms', format('must not be negative, got %s', duration_ms));
  end if;
  perform webhooks.check_url('webhook_url', webhook_url);
  if result_url is not null and length(result_url) > 4096 then
    perform webhooks.invalid('result_url', format('is %s characters long; the limit is 4096', length(result_url)));
  end if;
  if error is not null then
    if jsonb_typeof(error) <> 'object'
       or exists (select 1 from jsonb_object_keys(error) k where k not in ('code', 'message'))
       or coalesce(jsonb_typeof(error -> 'code'), 'string') <> 'string'
       or coalesce(jsonb_typeof(error -> 'message'), 'string') <> 'string' then
      perform webhooks.invalid('error', 'must be a JSON object {code, message} of strings');
    elsif length(error::text) > 4096 then
      perform webhooks.invalid('error', 'is longer than 4096 characters');
    end if;
  end if;
  -- Reached only if the two rule sets disagree: refuse rather than record unchecked input.
  raise exception using errcode = 'XX000',
    message = 'record_render_status: arguments failed the quick check but no rule names them';
end $$;

CREATE FUNCTION webhooks.invalid(argument text, problem text) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
  raise exception using errcode = '22023', message = format('%s %s', argument, problem),
    column = argument,
    hint = 'see the webhooks.record_render_status / open_collection argument list';
end $$;

CREATE FUNCTION webhooks.ipv6_literal_ok(host text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
begin
  return host is not null and host ~ '^[0-9A-Fa-f:.]+$'
    and (position('.' in host) = 0
         or host ~ ':((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')
    and family(host::inet) = 6 and masklen(host::inet) = 128;
exception when invalid_text_representation then
  return false;
end $_$;

CREATE FUNCTION webhooks.new_id(prefix text) RETURNS text
    LANGUAGE plpgsql PARALLEL SAFE
    AS $$
begin
  return prefix || '_'
    || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
    || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0')
    || lpad(to_hex((random() * 134217728)::bigint), 7, '0');
end $$;

CREATE FUNCTION webhooks.open_collection(org_id text, collection_id text, child_count integer, template_id text DEFAULT NULL::text, webhook_url text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql
    AS $$
declare
  existing webhooks.collections;
begin
  perform webhooks.check_id('org_id', open_collection.org_id);
  perform webhooks.check_id('collection_id', open_collection.collection_id);
  if open_collection.template_id is not null then
    perform webhooks.check_id('template_id', open_collection.template_id);
  end if;
  if open_collection.child_count is null or open_collection.child_count < 1 then
    perform webhooks.invalid('child_count', format('must be at least 1, got %s', coalesce(open_collection.child_count::text, 'null')));
  elsif open_collection.child_count > 100000 then
    perform webhooks.invalid('child_count', format('must be at most 100000, got %s', open_collection.child_count));
  end if;
  perform webhooks.check_url('webhook_url', open_collection.webhook_url);

  insert into webhooks.collections (org_id, id, template_id, webhook_url, child_count)
  values (open_collection.org_id, open_collection.collection_id, open_collection.template_id,
          open_collection.webhook_url, open_collection.child_count)
  on conflict do nothing;
  if found then
    return;
  end if;
  -- Opening the same collection again is harmless; opening it with other values is a bug.
  select * into existing from webhooks.collections c
  where c.org_id = open_collection.org_id and c.id = open_collection.collection_id;
  if existing.child_count <> open_collection.child_count then
    perform webhooks.invalid('child_count', format('%s differs from %s, given when collection %s was opened',
      open_collection.child_count, existing.child_count, open_collection.collection_id));
  elsif existing.template_id is distinct from open_collection.template_id then
    perform webhooks.invalid('template_id', format('%s differs from %s, given when collection %s was opened',
      coalesce(quote_literal(open_collection.template_id), 'null'), coalesce(quote_literal(existing.template_id), 'null'),
      open_collection.collection_id));
  elsif existing.webhook_url is distinct from open_collection.webhook_url then
    perform webhooks.invalid('webhook_url', format('%s differs from %s, given when collection %s was opened',
      coalesce(quote_literal(left(open_collection.webhook_url, 100)), 'null'),
      coalesce(quote_literal(left(existing.webhook_url, 100)), 'null'), open_collection.collection_id));
  end if;
end $$;

CREATE FUNCTION webhooks.polling_promised() RETURNS boolean
    LANGUAGE sql
    AS $$
  select coalesce(nullif(current_setting('webhooks.polling_until', true), '')::float8, 0)
    > extract(epoch from clock_timestamp())
$$;

CREATE FUNCTION webhooks.record_render_status(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(record_render_status.org_id, record_render_status.render_id,
      record_render_status.kind, record_render_status.status, record_render_status.template_id,
      record_render_status.result_url, record_render_status.duration_ms, record_render_status.webhook_url,
      record_render_status.collection_id, record_render_status.error) then
    perform webhooks.explain_render_arguments(record_render_status.org_id, record_render_status.render_id,
      record_render_status.kind, record_render_status.status, record_render_status.template_id,
      record_render_status.result_url, record_render_status.duration_ms, record_render_status.webhook_url,
      record_render_status.collection_id, record_render_status.error);
  end if;

  if record_render_status.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, record_render_status.org_id,
    record_render_status.kind || '.' || record_render_status.status,
    record_render_status.render_id, record_render_status.webhook_url,
    case when record_render_status.status = 'completed' then
      json_build_object('id', record_render_status.render_id, 'status', 'completed',
        'result_url', record_render_status.result_url, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms)
    when record_render_status.error is null then
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms)
    else
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms,
        'error', json_build_object('code', record_render_status.error ->> 'code',
                                   'message', record_render_status.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if record_render_status.collection_id is not null then
    perform webhooks.count_collection_child(record_render_status.org_id, record_render_status.collection_id,
      record_render_status.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $$;

CREATE FUNCTION webhooks.render_arguments_valid(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$
  select coalesce(
    length(org_id) <= 200 and org_id ~ '^[A-Za-z0-9_.:-]+$'
    and length(render_id) <= 200 and render_id ~ '^[A-Za-z0-9_.:-]+$'
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200 and template_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (collection_id is null or (length(collection_id) <= 200 and collection_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (duration_ms is null or duration_ms >= 0)
    and (webhook_url is null or (length(webhook_url) <= 2048 and webhooks.url_ok(webhook_url)
         and webhook_url !~ '[[:cntrl:]]'))
    and (result_url is null or length(result_url) <= 4096)
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096)),
    false)
$_$;

CREATE FUNCTION webhooks.url_ok(url text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$
  select url ~ '^[Hh][Tt][Tt][Pp][Ss]?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&''()*+,;=-]+)(:(|[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?][^\s#]*)?$'
    -- A host whose last label is a number is read as an IPv4 address: it must be one.
    and (url !~ '^[A-Za-z]+://([^/?#:]*\.)?(0[Xx][0-9A-Fa-f]*|[0-9]+)\.?(:[0-9]*)?([/?]|$)'
         or url ~ '^[A-Za-z]+://((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.?(:[0-9]*)?([/?]|$)')
    and (substr(url, position('://' in url) + 3, 1) <> '['
         or webhooks.ipv6_literal_ok(substring(url from '^[A-Za-z]+://\[([^]/?#]*)\]')))
$_$;

CREATE FUNCTION webhooks.wake_dispatcher() RETURNS void
    LANGUAGE plpgsql
    AS $$
declare
  until timestamptz;
begin
  if webhooks.polling_promised() then
    return;
  end if;
  select max(polling_until) into until from webhooks.worker_pools where polling_until > clock_timestamp();
  if until is null then
    perform pg_notify('webhooks_outbox', '');
  else
    perform set_config('webhooks.polling_until',
      extract(epoch from least(until, clock_timestamp() + interval '2 seconds'))::text, false);
  end if;
end $$;

CREATE TABLE webhooks.api_keys (
    id text NOT NULL,
    name text NOT NULL,
    secret_hash text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT api_keys_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE webhooks.attempts (
    id bigint NOT NULL,
    delivery_id text NOT NULL,
    attempt_no integer NOT NULL,
    replay_no integer DEFAULT 0 NOT NULL,
    org_id text NOT NULL,
    endpoint_id text,
    started_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error_code text,
    error_message text,
    response_excerpt text,
    outcome text NOT NULL,
    retry_at timestamp with time zone,
    CONSTRAINT attempts_outcome_check CHECK ((outcome = ANY (ARRAY['delivered'::text, 'retrying'::text, 'dropped'::text, 'lost'::text])))
);

ALTER TABLE webhooks.attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME webhooks.attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE webhooks.collections (
    org_id text NOT NULL,
    id text NOT NULL,
    template_id text,
    webhook_url text,
    child_count integer NOT NULL,
    completed integer DEFAULT 0 NOT NULL,
    failed integer DEFAULT 0 NOT NULL,
    event_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    CONSTRAINT collections_check CHECK (((completed + failed) <= child_count)),
    CONSTRAINT collections_child_count_check CHECK ((child_count > 0))
);

CREATE TABLE webhooks.deliveries (
    id text NOT NULL,
    event_id text NOT NULL,
    org_id text NOT NULL,
    destination text NOT NULL,
    endpoint_id text,
    url text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    replays integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    lease_until timestamp with time zone,
    last_status_code integer,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    dropped_at timestamp with time zone,
    CONSTRAINT deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'in_flight'::text, 'delivered'::text, 'dropped'::text])))
);

CREATE TABLE webhooks.events (
    id text NOT NULL,
    org_id text NOT NULL,
    type text NOT NULL,
    subject_id text NOT NULL,
    webhook_url text,
    data json NOT NULL,
    created_at timestamp with time zone NOT NULL,
    fanned_out_at timestamp with time zone,
    test boolean DEFAULT false NOT NULL
);

CREATE VIEW webhooks.delivery_history AS
 SELECT a.id AS attempt_id,
    a.delivery_id,
    d.event_id,
    e.type AS event_type,
    e.subject_id,
    e.org_id,
    d.destination,
    a.endpoint_id,
    d.url,
    a.attempt_no AS attempt,
    a.replay_no AS replay,
    a.started_at,
    a.duration_ms,
    a.status_code,
        CASE
            WHEN (a.error_code IS NOT NULL) THEN (a.error_code || COALESCE((': '::text || a.error_message), ''::text))
            ELSE NULL::text
        END AS error,
    a.outcome,
    a.response_excerpt
   FROM ((webhooks.attempts a
     JOIN webhooks.deliveries d ON ((d.id = a.delivery_id)))
     JOIN webhooks.events e ON ((e.id = d.event_id)));

CREATE VIEW webhooks.dropped_deliveries AS
 SELECT d.id AS delivery_id,
    d.event_id,
    e.type AS event_type,
    e.subject_id,
    d.org_id,
    d.destination,
    d.endpoint_id,
    d.url,
    d.attempts,
    d.replays,
    d.last_status_code,
    d.last_error,
    d.dropped_at
   FROM (webhooks.deliveries d
     JOIN webhooks.events e ON ((e.id = d.event_id)))
  WHERE (d.status = 'dropped'::text);

CREATE TABLE webhooks.endpoints (
    id text NOT NULL,
    org_id text NOT NULL,
    url text NOT NULL,
    description text,
    event_types text[],
    secret text NOT NULL,
    previous_secret text,
    previous_expires_at timestamp with time zone,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    disabled_at timestamp with time zone,
    deleted_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE VIEW webhooks.endpoint_health AS
 SELECT ep.id AS endpoint_id,
    ep.org_id,
    ep.url,
    ep.enabled,
    recent.attempts,
    recent.success_rate,
    recent.p50_ms,
    recent.p95_ms,
    failing.consecutive_failures,
    last_success.at AS last_success_at
   FROM (((webhooks.endpoints ep
     CROSS JOIN LATERAL ( SELECT (count(*))::integer AS attempts,
            ((count(*) FILTER (WHERE (a.outcome = 'delivered'::text)))::double precision / (NULLIF(count(*), 0))::double precision) AS success_rate,
            percentile_cont((0.5)::double precision) WITHIN GROUP (ORDER BY ((a.duration_ms)::double precision)) AS p50_ms,
            percentile_cont((0.95)::double precision) WITHIN GROUP (ORDER BY ((a.duration_ms)::double precision)) AS p95_ms
           FROM webhooks.attempts a
          WHERE ((a.endpoint_id = ep.id) AND (a.started_at >= (now() - '24:00:00'::interval)) AND (a.outcome <> 'lost'::text))) recent)
     CROSS JOIN LATERAL ( SELECT max(a.started_at) AS at
           FROM webhooks.attempts a
          WHERE ((a.endpoint_id = ep.id) AND (a.outcome = 'delivered'::text))) last_success)
     CROSS JOIN LATERAL ( SELECT (count(*))::integer AS consecutive_failures
           FROM webhooks.attempts a
          WHERE ((a.endpoint_id = ep.id) AND (a.outcome = ANY (ARRAY['retrying'::text, 'dropped'::text])) AND (a.started_at > COALESCE(last_success.at, '-infinity'::timestamp with time zone)))) failing)
  WHERE (ep.deleted_at IS NULL);

CREATE TABLE webhooks.idempotency_keys (
    principal text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status_code integer NOT NULL,
    response text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE webhooks.migrations (
    id integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE webhooks.org_secrets (
    org_id text NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    previous_expires_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    rotated_at timestamp with time zone
);

CREATE TABLE webhooks.recoveries (
    id text NOT NULL,
    org_id text NOT NULL,
    endpoint_id text NOT NULL,
    since timestamp with time zone NOT NULL,
    until timestamp with time zone NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    total integer NOT NULL,
    processed integer DEFAULT 0 NOT NULL,
    replayed integer DEFAULT 0 NOT NULL,
    skipped integer DEFAULT 0 NOT NULL,
    cursor text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT recoveries_check CHECK ((since < until)),
    CONSTRAINT recoveries_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'completed'::text])))
);

CREATE TABLE webhooks.worker_pools (
    id text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    polling_until timestamp with time zone
);

ALTER TABLE ONLY webhooks.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.attempts
    ADD CONSTRAINT attempts_delivery_id_attempt_no_key UNIQUE (delivery_id, attempt_no);

ALTER TABLE ONLY webhooks.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.collections
    ADD CONSTRAINT collections_pkey PRIMARY KEY (org_id, id);

ALTER TABLE ONLY webhooks.deliveries
    ADD CONSTRAINT deliveries_event_id_destination_key UNIQUE (event_id, destination);

ALTER TABLE ONLY webhooks.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.endpoints
    ADD CONSTRAINT endpoints_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal, key);

ALTER TABLE ONLY webhooks.migrations
    ADD CONSTRAINT migrations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.org_secrets
    ADD CONSTRAINT org_secrets_pkey PRIMARY KEY (org_id);

ALTER TABLE ONLY webhooks.recoveries
    ADD CONSTRAINT recoveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.worker_pools
    ADD CONSTRAINT worker_pools_pkey PRIMARY KEY (id);

CREATE INDEX attempts_endpoint_delivered ON webhooks.attempts USING btree (endpoint_id, started_at) WHERE ((outcome = 'delivered'::text) AND (endpoint_id IS NOT NULL));

CREATE INDEX attempts_endpoint_outcome ON webhooks.attempts USING btree (endpoint_id, started_at) INCLUDE (outcome, duration_ms) WHERE (endpoint_id IS NOT NULL);

CREATE INDEX attempts_started ON webhooks.attempts USING btree (started_at);

CREATE INDEX deliveries_created ON webhooks.deliveries USING btree (created_at);

CREATE INDEX deliveries_dropped ON webhooks.deliveries USING btree (dropped_at) WHERE (status = 'dropped'::text);

CREATE INDEX deliveries_due ON webhooks.deliveries USING btree (next_attempt_at) WHERE (status = 'pending'::text);

CREATE INDEX deliveries_endpoint ON webhooks.deliveries USING btree (endpoint_id, created_at) WHERE (endpoint_id IS NOT NULL);

CREATE INDEX deliveries_endpoint_dropped ON webhooks.deliveries USING btree (endpoint_id, id) INCLUDE (created_at) WHERE ((status = 'dropped'::text) AND (endpoint_id IS NOT NULL));

CREATE INDEX deliveries_leased ON webhooks.deliveries USING btree (lease_until) WHERE (status = 'in_flight'::text);

CREATE INDEX deliveries_org ON webhooks.deliveries USING btree (org_id, created_at);

CREATE INDEX deliveries_org_dropped ON webhooks.deliveries USING btree (org_id, id) INCLUDE (created_at) WHERE (status = 'dropped'::text);

CREATE INDEX endpoints_org_enabled ON webhooks.endpoints USING btree (org_id) WHERE (enabled AND (deleted_at IS NULL));

CREATE UNIQUE INDEX events_subject ON webhooks.events USING btree (org_id, subject_id, ((type = 'collection.completed'::text)));

CREATE INDEX events_unfanned ON webhooks.events USING btree (id) WHERE (fanned_out_at IS NULL);

CREATE INDEX idempotency_keys_created ON webhooks.idempotency_keys USING btree (created_at);

CREATE INDEX recoveries_org ON webhooks.recoveries USING btree (org_id, id);

ALTER TABLE ONLY webhooks.deliveries
    ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES webhooks.events(id);
