-- The schema `webhooks` as the migrations leave it, for reading in one place (graphile-worker's
-- own schema, graphile_worker, is not shown). Generated from a freshly migrated database by
-- `npm run schema` (pg_dump --schema-only, normalised); a test fails when it is stale.
-- Do not edit: change the schema with a new migration, then run `npm run schema`.

CREATE SCHEMA webhooks;

CREATE FUNCTION webhooks.check_collection_known(org_id text, collection_id text) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
  if not exists (select 1 from webhooks.collections c
                 where c.org_id = check_collection_known.org_id and c.id = check_collection_known.collection_id) then
    perform webhooks.invalid('collection_id', format('%s is not an open collection of org %s (call webhooks.open_collection first)',
      collection_id, org_id));
  end if;
end $$;

CREATE FUNCTION webhooks.check_endpoint_limits(max_in_flight integer, rate_limit double precision) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
begin
  if max_in_flight is not null and (max_in_flight < 1 or max_in_flight > 1000) then
    perform webhooks.invalid('max_in_flight', format('must be between 1 and 1000, got %s', max_in_flight));
  end if;
  if rate_limit is not null and not (rate_limit > 0 and rate_limit <= 10000) then
    perform webhooks.invalid('rate_limit', format('must be more than 0 and at most 10000 per second, got %s', rate_limit));
  end if;
end $$;

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

CREATE FUNCTION webhooks.check_reported_again(org_id text, render_id text, kind text, collection_id text) RETURNS void
    LANGUAGE plpgsql
    AS $$
declare
  first_kind text;
begin
  select split_part(e.type, '.', 1) into first_kind from webhooks.events e
  where e.org_id = check_reported_again.org_id and e.subject_id = check_reported_again.render_id
    and e.type <> 'collection.completed';
  if first_kind <> check_reported_again.kind then
    perform webhooks.invalid('kind', format('%L differs from %L, reported first for render %s',
      check_reported_again.kind, first_kind, check_reported_again.render_id));
  end if;
  if check_reported_again.collection_id is not null then
    perform webhooks.check_collection_known(check_reported_again.org_id, check_reported_again.collection_id);
  end if;
end $$;

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
  elsif position('\' in value) > 0 then
    perform webhooks.invalid(argument, 'must not contain a backslash (URL parsers read it as a slash)');
  elsif not webhooks.url_ok(value) then
    perform webhooks.invalid(argument, format('has no valid host and port (a name of dot-separated labels of letters, digits and inner hyphens, without a trailing dot; a dotted IPv4 address; or a bracketed IPv6 one; then an optional port from 1 to 65535), got %L', left(value, 100)));
  end if;
end $_$;

CREATE FUNCTION webhooks.claim_deliveries(max_deliveries integer, lease_ms integer, default_cap integer, pool_id text, passed_over bigint[] DEFAULT '{}'::bigint[], only_destinations bigint[] DEFAULT NULL::bigint[], take_over_after_ms integer DEFAULT 0) RETURNS TABLE(id text, event_id text, org_id text, destination text, destination_id bigint, endpoint_id text, url text, attempts integer, failures integer, replays integer, type text, created_at timestamp with time zone, data json, test boolean, active boolean, secret text, previous_secret text)
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_nestloop TO 'off'
    SET enable_mergejoin TO 'off'
    SET jit TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
declare
  turn_ids bigint[];
  share integer;
  lease interval := lease_ms * interval '1 millisecond';
begin
  if only_destinations is null then
    select array_agg(r.id) into turn_ids from (
      select d.id from webhooks.destinations d
      where d.ready_at <= now() and d.id <> all(passed_over)
      order by d.ready_at limit max_deliveries
      for update skip locked) r;
  else
    select array_agg(r.id) into turn_ids from (
      select d.id from webhooks.destinations d
      where d.id = any(only_destinations) and d.ready_at <= now() and d.id <> all(passed_over)
      order by d.ready_at limit max_deliveries
      for update skip locked) r;
  end if;
  if turn_ids is null then
    return;
  end if;
  -- Each destination takes no more than its share of the claim (its limit over the destinations
  -- in turn), and so reads no more of its list. A destination with fewer leaves room that the
  -- next claim fills.
  share := ceil(max_deliveries::numeric / cardinality(turn_ids));

  return query
  with sized as (
    select d.id, d.send_window, d.backoff_until,
      coalesce(ep.max_in_flight, default_cap) as cap,
      ep.rate_limit,
      live.n as in_flight,
      live.first_expiry,
      case when ep.rate_limit is not null then
        least(greatest(1, ep.rate_limit / 10),
              d.tokens + ep.rate_limit * extract(epoch from now() - d.tokens_at)) end as tokens
    from webhooks.destinations d
    left join lateral (
      select x.max_in_flight, x.rate_limit from webhooks.endpoints x where x.id = d.endpoint_id limit 1
    ) ep on true
    cross join lateral (
      select count(*)::integer as n, min(q.due_at) as first_expiry
      from webhooks.delivery_queue q
      where q.destination_id = d.id and q.leased and q.due_at > now()) live
    where d.id = any(turn_ids)
  ), allowed as (
    -- What each destination may take: within its window, cap and tokens, and its share.
    select s.*,
      case when s.backoff_until > now() then 0
        else greatest(0, least(least(s.send_window, s.cap) - s.in_flight,
                               coalesce(floor(s.tokens)::integer, max_deliveries), share))
      end as n
    from sized s
  ), lists as (
    -- Each destination's waiting deliveries (one more than it may take, to know what comes next)
    -- and its expired leases, by when each may be taken; a destination with neither has one
    -- empty row. Each row carries its destination's figures.
    select a.*, l.delivery_id, l.eligible_at, l.takeover,
      row_number() over (partition by a.id order by l.eligible_at, l.delivery_id) as turn
    from allowed a
    left join lateral (
      (select q.delivery_id, q.due_at as eligible_at, false as takeover
       from webhooks.delivery_queue q
       where q.destination_id = a.id and not q.leased
       order by q.due_at limit a.n + 1)
      union all
      (select q.delivery_id,
         greatest(case when take_over_after_ms > 0 then now() + take_over_after_ms * interval '1 millisecond' end,
           case when q.due_at > now() - lease and exists (
                  select 1 from webhooks.worker_pools p where p.id = q.leased_by and p.heartbeat_at > q.due_at)
                then q.due_at + lease else q.due_at end),
         true
       from webhooks.delivery_queue q
       where q.destination_id = a.id and q.leased and q.due_at <= now())
    ) l on true
  ), ranked as (
    -- Destinations' turns in order (every destination's first, then every second, ...) up to
    -- max_deliveries: what is taken of one destination is a run of its first turns, and what
    -- comes next is the earliest it leaves.
    select r.*, r.eligible
        and row_number() over (order by r.eligible desc, r.turn, r.eligible_at, r.id) <= max_deliveries as picked
    from (
      select l.*, coalesce(l.turn <= l.n and l.eligible_at <= now(), false) as eligible from lists l
    ) r
  ), chosen as (
    select r.id as destination_id, r.delivery_id, r.takeover from ranked r where r.picked
  ), lost as (
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, error_code, error_message, outcome)
    select q.delivery_id, q.attempts, q.replays, dl.org_id, dl.endpoint_id, q.due_at - lease, 0, 'worker_lost',
      'the worker holding this attempt stopped before recording its outcome', 'lost'
    from chosen c
    cross join lateral (
      select x.delivery_id, x.attempts, x.replays, x.due_at
      from webhooks.delivery_queue x where x.delivery_id = c.delivery_id limit 1
    ) q
    cross join lateral (
      select x.org_id, x.endpoint_id from webhooks.deliveries x where x.id = c.delivery_id limit 1
    ) dl
    where c.takeover
    on conflict (delivery_id, attempt_no) do nothing
  ), claimed as (
    update webhooks.delivery_queue q
    set leased = true, leased_by = pool_id, attempts = q.attempts + 1, due_at = now() + lease
    where q.delivery_id = any(array(select c.delivery_id from chosen c))
    returning q.delivery_id, q.destination_id, q.attempts, q.failures, q.replays
  ), moved as (
    update webhooks.destinations d
    set saturated = m.full,
      tokens = case when m.rate_limit is null then d.tokens else m.tokens - m.k end,
      tokens_at = case when m.rate_limit is null then d.tokens_at else now() end,
      ready_at = case
        when m.next_at is null and m.leases_until is null then null
        when m.backoff_until > now() then m.backoff_until
        when m.full then m.leases_until
        when m.next_at is null then m.leases_until
        else least(m.leases_until, greatest(m.next_at,
          case when m.rate_limit is not null and m.tokens - m.k < 1
               then now() + (1 - (m.tokens - m.k)) / m.rate_limit * interval '1 second'
               else now() end))
      end
    from (
      select t.id, t.rate_limit, t.tokens, t.backoff_until, t.k,
        t.in_flight + t.k >= least(t.send_window, t.cap) as full,
        least(t.first_expiry, case when t.k > 0 then now() + lease end) as leases_until,
        t.next_at
      from (
        select r.id, r.rate_limit, r.tokens, r.backoff_until, r.in_flight, r.send_window, r.cap,
          r.first_expiry, count(*) filter (where r.picked)::integer as k,
          min(r.eligible_at) filter (where not r.picked) as next_at
        from ranked r
        group by r.id, r.rate_limit, r.tokens, r.backoff_until, r.in_flight, r.send_window, r.cap,
          r.first_expiry
      ) t
    ) m
    where d.id = m.id and d.id = any(turn_ids)
  )
  select c.delivery_id, dl.event_id, dl.org_id, dl.destination, c.destination_id, dl.endpoint_id, dl.url,
    c.attempts, c.failures, c.replays, e.type, e.created_at, e.data, e.test,
    case when dl.endpoint_id is null then true else coalesce(ep.enabled and ep.deleted_at is null, false) end,
    case when dl.endpoint_id is null then os.secret else ep.secret end,
    case when dl.endpoint_id is null
      then case when os.previous_expires_at > now() then os.previous_secret end
      else case when ep.previous_expires_at > now() then ep.previous_secret end
    end
  from claimed c
  cross join lateral (
    select x.event_id, x.org_id, x.destination, x.endpoint_id, x.url
    from webhooks.deliveries x where x.id = c.delivery_id limit 1
  ) dl
  cross join lateral (
    select x.type, x.created_at, x.data, x.test from webhooks.events x where x.id = dl.event_id limit 1
  ) e
  left join lateral (
    select x.enabled, x.deleted_at, x.secret, x.previous_secret, x.previous_expires_at
    from webhooks.endpoints x where x.id = dl.endpoint_id limit 1
  ) ep on true
  left join lateral (
    select x.secret, x.previous_secret, x.previous_expires_at
    from webhooks.org_secrets x where dl.endpoint_id is null and x.org_id = dl.org_id limit 1
  ) os on true;
end $$;

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

CREATE FUNCTION webhooks.create_endpoint(org_id text, url text, secret text, event_types text[] DEFAULT NULL::text[], description text DEFAULT NULL::text, max_in_flight integer DEFAULT NULL::integer, rate_limit double precision DEFAULT NULL::double precision) RETURNS text
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
  perform webhooks.check_endpoint_limits(create_endpoint.max_in_flight, create_endpoint.rate_limit);
  insert into webhooks.endpoints (id, org_id, url, description, event_types, secret, max_in_flight, rate_limit)
  values (endpoint_id, create_endpoint.org_id, create_endpoint.url, create_endpoint.description,
    create_endpoint.event_types, create_endpoint.secret, create_endpoint.max_in_flight, create_endpoint.rate_limit);
  return endpoint_id;
end $$;

CREATE FUNCTION webhooks.delivery_targets(event_ids text[]) RETURNS TABLE(event_id text, org_id text, destination text, endpoint_id text, url text, destination_key text, origin text)
    LANGUAGE sql STABLE
    AS $$
  with batch as materialized (
    -- One lookup by key per event (LIMIT keeps the planner from reading the table instead).
    select e.id, e.org_id, e.type, e.webhook_url
    from unnest(event_ids) b(id)
    cross join lateral (select x.* from webhooks.events x where x.id = b.id limit 1) e
  ), origins as materialized (
    select u.url, webhooks.url_origin(u.url) as origin
    from (select distinct e.webhook_url as url from batch e where e.webhook_url is not null) u
  )
  -- The key as webhooks.destination_key(org_id, null, url) makes it.
  select e.id, e.org_id, 'render_url', null::text, e.webhook_url,
    e.org_id || ' ' || coalesce(o.origin, e.webhook_url), o.origin
  from batch e
  join origins o on o.url = e.webhook_url
  union all
  select e.id, e.org_id, ep.id, ep.id, ep.url, ep.id, null::text
  from batch e
  -- Each event's org's endpoints (OFFSET 0 keeps it a lookup per event).
  cross join lateral (
    select x.id, x.url, x.event_types from webhooks.endpoints x
    where x.org_id = e.org_id and x.enabled and x.deleted_at is null offset 0
  ) ep
  where webhooks.event_type_matches(ep.event_types, e.type)
$$;

CREATE FUNCTION webhooks.destination_key(org_id text, endpoint_id text, url text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select coalesce(endpoint_id, org_id || ' ' || coalesce(webhooks.url_origin(url), url))
$$;

CREATE FUNCTION webhooks.enqueue_deliveries(delivery_ids text[]) RETURNS TABLE(delivery_id text)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  queued text[];
  woken bigint[];
begin
  insert into webhooks.destinations (key, org_id, endpoint_id, origin)
  select distinct on (k.key) k.key, d.org_id, d.endpoint_id,
    case when d.endpoint_id is null then webhooks.url_origin(d.url) end
  from webhooks.deliveries d
  cross join lateral (select webhooks.destination_key(d.org_id, d.endpoint_id, d.url) as key) k
  where d.id = any(delivery_ids)
    and not exists (select 1 from webhooks.destinations x where x.key = k.key)
  order by k.key
  on conflict (key) do nothing;

  with inserted as (
    insert into webhooks.delivery_queue (delivery_id, destination_id, due_at, attempts, replays)
    select d.id, dest.id, now(), d.attempts, d.replays
    from webhooks.deliveries d
    join webhooks.destinations dest on dest.key = webhooks.destination_key(d.org_id, d.endpoint_id, d.url)
    where d.id = any(delivery_ids) and d.status = 'pending'
    on conflict (delivery_id) do nothing
    returning delivery_id, destination_id
  )
  select array_agg(i.delivery_id), array_agg(distinct i.destination_id) into queued, woken from inserted i;

  -- As in fan_out: every destination given a delivery is locked first, then woken if it must be.
  perform 1 from webhooks.destinations x where x.id = any(woken) order by x.id for update;
  update webhooks.destinations d set ready_at = now()
  where d.id = any(woken) and (d.ready_at is null or d.ready_at > now()) and not d.saturated
    and (d.backoff_until is null or d.backoff_until <= now());
  if queued is not null then
    perform webhooks.wake_dispatcher();
  end if;
  return query select unnest(coalesce(queued, '{}'));
end $$;

CREATE FUNCTION webhooks.event_type_matches(patterns text[], type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select patterns is null or type = any(patterns) or split_part(type, '.', 1) || '.*' = any(patterns)
    or '*' = any(patterns)
$$;

CREATE FUNCTION webhooks.event_types() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select array['image.completed', 'image.failed', 'video.completed', 'video.failed', 'collection.completed']
$$;

CREATE FUNCTION webhooks.explain_render_arguments(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms double precision, webhook_url text, collection_id text, error jsonb) RETURNS void
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
  elsif not (duration_ms <= 2147483647 and duration_ms = trunc(duration_ms)) then
    perform webhooks.invalid('duration_ms', format('must be a whole number of milliseconds up to 2147483647, got %s',
      duration_ms));
  end if;
  perform webhooks.check_url('webhook_url', webhook_url);
  if result_url is null then
    null;
  elsif length(result_url) > 4096 then
    perform webhooks.invalid('result_url', format('is %s characters long; the limit is 4096', length(result_url)));
  elsif result_url = '' then
    perform webhooks.invalid('result_url', 'is empty (pass null when there is none)');
  elsif result_url ~ '[[:cntrl:]]' then
    perform webhooks.invalid('result_url', 'must not contain control characters');
  elsif status = 'failed' then
    perform webhooks.invalid('result_url', 'is for a completed render, not a failed one (pass null)');
  end if;
  if error is null then
    null;
  elsif jsonb_typeof(error) <> 'object'
     or exists (select 1 from jsonb_object_keys(error) k where k not in ('code', 'message'))
     or coalesce(jsonb_typeof(error -> 'code'), 'string') <> 'string'
     or coalesce(jsonb_typeof(error -> 'message'), 'string') <> 'string' then
    perform webhooks.invalid('error', 'must be a JSON object {code, message} of strings');
  elsif length(error::text) > 4096 then
    perform webhooks.invalid('error', 'is longer than 4096 characters');
  elsif error = '{}'::jsonb or error @> '{"code": ""}' or error @> '{"message": ""}' then
    perform webhooks.invalid('error', 'must give a code, a message or both, none of them empty (pass null when there is no error)');
  elsif status = 'completed' then
    perform webhooks.invalid('error', 'is for a failed render, not a completed one (pass null)');
  end if;
  -- Reached only if the two rule sets disagree: refuse rather than record unchecked input.
  raise exception using errcode = 'XX000',
    message = 'record_render_status: arguments failed the quick check but no rule names them';
end $$;

CREATE FUNCTION webhooks.fan_out(max_events integer, only_events text[] DEFAULT NULL::text[]) RETURNS integer
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_nestloop TO 'off'
    SET enable_mergejoin TO 'off'
    SET jit TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
declare
  batch text[];
  woken bigint[];
  t_events text[];
  t_orgs text[];
  t_destinations text[];
  t_endpoints text[];
  t_urls text[];
  t_keys text[];
  t_origins text[];
  q_ids text[];
  q_destinations bigint[];
  made integer;
begin
  if only_events is null then
    select array_agg(b.id) into batch from (
      select e.id from webhooks.events e
      where e.fanned_out_at is null
      order by e.id limit max_events
      for update skip locked) b;
  else
    -- An id named twice matches its event once.
    select array_agg(b.id) into batch from (
      select e.id from webhooks.events e
      where e.id = any(only_events) and e.fanned_out_at is null
      order by e.id limit max_events
      for update skip locked) b;
  end if;
  if batch is null then
    return 0;
  end if;

  select array_agg(t.event_id), array_agg(t.org_id), array_agg(t.destination), array_agg(t.endpoint_id),
    array_agg(t.url), array_agg(t.destination_key), array_agg(t.origin)
  into t_events, t_orgs, t_destinations, t_endpoints, t_urls, t_keys, t_origins
  from webhooks.delivery_targets(batch) t;

  if t_events is not null then
    insert into webhooks.destinations (key, org_id, endpoint_id, origin, ready_at)
    select distinct on (t.key) t.key, t.org_id, t.endpoint_id, t.origin, now()
    from unnest(t_keys, t_orgs, t_endpoints, t_origins) t(key, org_id, endpoint_id, origin)
    left join lateral (select x.id from webhooks.destinations x where x.key = t.key limit 1) d on true
    where d.id is null
    order by t.key
    on conflict (key) do nothing;

    -- Each delivery's id is made first, so that the queue is written from the same list.
    with targets as materialized (
      select webhooks.new_id('dlv') as id, t.*, d.id as destination_id
      from unnest(t_events, t_orgs, t_destinations, t_endpoints, t_urls, t_keys)
        t(event_id, org_id, destination, endpoint_id, url, key)
      cross join lateral (select x.id from webhooks.destinations x where x.key = t.key limit 1) d
    ), inserted as (
      insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
      select t.id, t.event_id, t.org_id, t.destination, t.endpoint_id, t.url from targets t
      on conflict (event_id, destination) do nothing
      returning 1
    )
    select array_agg(t.id), array_agg(t.destination_id), (select count(*)::integer from inserted)
    into q_ids, q_destinations, made
    from targets t;

    if made = cardinality(q_ids) then
      with queued as (
        insert into webhooks.delivery_queue (delivery_id, destination_id, due_at)
        select u.id, u.destination_id, now() from unnest(q_ids, q_destinations) u(id, destination_id)
        returning destination_id
      )
      select array_agg(distinct q.destination_id) into woken from queued q;
    elsif made > 0 then
      -- Some existed already (the event was fanned out before): queue only those made now.
      with queued as (
        insert into webhooks.delivery_queue (delivery_id, destination_id, due_at)
        select u.id, u.destination_id, now() from unnest(q_ids, q_destinations) u(id, destination_id)
        cross join lateral (select 1 from webhooks.deliveries x where x.id = u.id limit 1) m
        returning destination_id
      )
      select array_agg(distinct q.destination_id) into woken from queued q;
    end if;
  end if;

  update webhooks.events e set fanned_out_at = now() where e.id = any(batch);

  -- Every destination given a delivery is locked, not only those to wake: a claim that holds one
  -- has not seen these deliveries and may be setting it to wait for nothing; this waits for it,
  -- and the next statement sees what it wrote.
  perform 1 from webhooks.destinations x where x.id = any(woken) order by x.id for update;
  update webhooks.destinations d set ready_at = now()
  where d.id = any(woken) and (d.ready_at is null or d.ready_at > now()) and not d.saturated
    and (d.backoff_until is null or d.backoff_until <= now());
  return cardinality(batch);
end $$;

CREATE FUNCTION webhooks.hold_outcome(delivery_id text, attempt_no integer, error text, retry_in_ms bigint) RETURNS text
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_variable
declare
  note text := 'outcome_unrecorded: ' || left(error, 500);
  dest bigint;
  due timestamptz;
  gone record;
begin
  select q.destination_id into dest from webhooks.delivery_queue q
  where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
  if dest is null then
    return 'not_owned';
  end if;
  perform 1 from webhooks.destinations d where d.id = dest for update;

  if retry_in_ms is not null then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = now() + retry_in_ms * interval '1 millisecond',
      failures = q.failures + 1, last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no
    returning q.due_at into due;
    if not found then
      return 'not_owned';
    end if;
    perform webhooks.wake_held_destination(dest, due);
    return 'retrying';
  end if;
  begin
    delete from webhooks.delivery_queue q
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no
    returning q.attempts, q.failures, q.replays into gone;
    if not found then
      return 'not_owned';
    end if;
    update webhooks.deliveries d
    set status = 'dropped', dropped_at = now(), last_error = note, updated_at = now(),
      attempts = gone.attempts, failures = gone.failures + 1, replays = gone.replays
    where d.id = hold_outcome.delivery_id;
    perform webhooks.wake_held_destination(dest, null);
    return 'dropped';
  exception when others then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = 'infinity', last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
    if not found then
      return 'not_owned';
    end if;
    perform webhooks.wake_held_destination(dest, null);
    return 'held';
  end;
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

CREATE FUNCTION webhooks.open_collection(org_id text, collection_id text, child_count double precision, template_id text DEFAULT NULL::text, webhook_url text DEFAULT NULL::text) RETURNS void
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
  elsif open_collection.child_count <> trunc(open_collection.child_count) then
    perform webhooks.invalid('child_count', format('must be a whole number, got %s', open_collection.child_count));
  end if;
  perform webhooks.check_url('webhook_url', open_collection.webhook_url);

  insert into webhooks.collections (org_id, id, template_id, webhook_url, child_count)
  values (open_collection.org_id, open_collection.collection_id, open_collection.template_id,
          open_collection.webhook_url, open_collection.child_count::integer)
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

CREATE FUNCTION webhooks.record_outcomes(delivery_ids text[], attempt_nos integer[], replay_nos integer[], org_ids text[], endpoint_ids text[], destination_ids bigint[], started_ats timestamp with time zone[], duration_mss integer[], status_codes integer[], error_codes text[], error_messages text[], excerpts text[], outcomes text[], statuses text[], retry_in_mss bigint[], signals text[], default_cap integer, pauses bigint[]) RETURNS TABLE(delivery_id text)
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_nestloop TO 'off'
    SET enable_mergejoin TO 'off'
    SET jit TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
  -- Destinations first, in id order: claims skip them meanwhile, fan-outs and other writers wait
  -- their turn the same way, and the statement below sees everything committed before.
  perform 1 from webhooks.destinations d where d.id = any(destination_ids) order by d.id for update;

  return query
  with given as (
    select * from unnest(delivery_ids, attempt_nos, replay_nos, org_ids, endpoint_ids, destination_ids,
      started_ats, duration_mss, status_codes, error_codes, error_messages, excerpts, outcomes, statuses,
      retry_in_mss, signals)
      as g(delivery_id, attempt_no, replay_no, org_id, endpoint_id, destination_id, started_at, duration_ms,
           status_code, error_code, error_message, excerpt, outcome, status, retry_in_ms, signal)
  ), looked as (
    -- Every outcome, with its delivery's queue row if its attempt still holds the lease; a retry
    -- for an endpoint disabled or deleted meanwhile is dropped now, not when it comes due.
    select g.*, q.delivery_id is not null as held, q.attempts, q.failures, q.replays,
      case when gone then 'dropped' else g.status end as final_status,
      case when gone and g.outcome = 'retrying' then 'dropped' else g.outcome end as final_outcome,
      case when gone then 'endpoint_disabled: ' || coalesce(ep.disabled_reason, 'the endpoint was deleted') end
        as drop_reason,
      case when g.outcome = 'delivered' then null
           else coalesce(case when gone then 'endpoint_disabled: '
                                || coalesce(ep.disabled_reason, 'the endpoint was deleted') end,
                         g.error_code || ': ' || g.error_message, 'HTTP ' || g.status_code) end as error_text
    from given g
    left join lateral (
      select x.delivery_id, x.attempts, x.failures, x.replays from webhooks.delivery_queue x
      where x.delivery_id = g.delivery_id and x.leased and x.attempts = g.attempt_no limit 1
    ) q on true
    left join lateral (
      select x.id, x.enabled, x.deleted_at, x.disabled_reason from webhooks.endpoints x
      where x.id = g.endpoint_id limit 1
    ) ep on true
    cross join lateral (select g.status = 'pending' and ep.id is not null
      and not (ep.enabled and ep.deleted_at is null) as gone) x
  ), owned as (
    select * from looked l where l.held
  ), rescheduled as (
    update webhooks.delivery_queue q
    set leased = false, leased_by = null,
      due_at = now() + o.retry_in_ms * interval '1 millisecond',
      failures = q.failures + (o.final_outcome = 'retrying')::integer,
      last_status_code = o.status_code, last_error = o.error_text
    from owned o
    where q.delivery_id = o.delivery_id and o.final_status = 'pending' and q.delivery_id = any(delivery_ids)
  ), dequeued as (
    -- What the settle writes comes back with each deleted row, so that it needs no join of two
    -- lists (a nested loop over both, whatever their length, in a plan made once).
    delete from webhooks.delivery_queue q using owned o
    where q.delivery_id = o.delivery_id and o.final_status <> 'pending' and q.delivery_id = any(delivery_ids)
    returning q.delivery_id, o.final_status, o.final_outcome, o.attempts, o.failures, o.replays,
      o.status_code, o.error_text
  ), settled as (
    update webhooks.deliveries d
    set status = q.final_status, attempts = q.attempts,
      failures = q.failures + (q.final_outcome = 'dropped')::integer, replays = q.replays,
      last_status_code = q.status_code, last_error = q.error_text,
      delivered_at = case when q.final_status = 'delivered' then now() else d.delivered_at end,
      dropped_at = case when q.final_status = 'dropped' then now() end,
      updated_at = now()
    from dequeued q
    where d.id = q.delivery_id and d.id = any(delivery_ids)
  ), logged as (
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, status_code, error_code, error_message, response_excerpt, outcome, retry_at)
    select g.delivery_id, g.attempt_no, g.replay_no, g.org_id, g.endpoint_id, g.started_at, g.duration_ms,
      g.status_code, g.error_code, g.error_message, g.excerpt,
      case when g.held then g.final_outcome else g.outcome end,
      case when g.held and g.final_status = 'pending' then now() + g.retry_in_ms * interval '1 millisecond' end
    from looked g
    -- A late result of a delivery that was pruned meanwhile is not written. FOR KEY SHARE waits
    -- for a prune deleting it, then finds it gone; unlike FOR SHARE it does not wait for another
    -- batch's update of it.
    where g.held
      or exists (select 1 from webhooks.deliveries d where d.id = g.delivery_id for key share)
    on conflict (delivery_id, attempt_no) do update
      set started_at = excluded.started_at, duration_ms = excluded.duration_ms,
        status_code = excluded.status_code, error_code = excluded.error_code,
        error_message = excluded.error_message, response_excerpt = excluded.response_excerpt,
        outcome = excluded.outcome, retry_at = excluded.retry_at
      where webhooks.attempts.outcome = 'lost'
  ), observed as (
    select o.destination_id,
      count(*) filter (where o.signal = 'answered')::integer as answered,
      bool_or(o.signal = 'unreachable') as unreachable,
      count(*)::integer as freed,
      -- When the first of its retries comes due: rescheduled sets each to this.
      min(now() + o.retry_in_ms * interval '1 millisecond') filter (where o.final_status = 'pending')
        as first_retry,
      (array_agg(o.error_text order by o.started_at desc) filter (where o.error_text is not null))[1] as last_error
    from owned o
    group by o.destination_id
  ), judged as (
    select d.id,
      case when ob.answered > 0 then least(d.send_window + ob.answered,
             greatest(coalesce(ep.max_in_flight, default_cap), 1))
           when ob.unreachable and not coalesce(d.backoff_until > now(), false) then 1
           else d.send_window end as send_window,
      case when ob.answered > 0 then 0
           when ob.unreachable and not coalesce(d.backoff_until > now(), false) then d.failure_streak + 1
           else d.failure_streak end as failure_streak,
      case when ob.answered > 0 then null
           when ob.unreachable then coalesce(d.backoff_since, now())
           else d.backoff_since end as backoff_since,
      case when ob.answered > 0 then null
           when ob.unreachable and not coalesce(d.backoff_until > now(), false)
             then now() + pauses[least(d.failure_streak + 1, cardinality(pauses))] * interval '1 millisecond'
           else d.backoff_until end as backoff_until,
      ob.first_retry, ob.last_error, d.saturated
    from observed ob
    cross join lateral (select x.* from webhooks.destinations x where x.id = ob.destination_id limit 1) d
    left join lateral (
      select x.max_in_flight from webhooks.endpoints x where x.id = d.endpoint_id limit 1
    ) ep on true
  ), touched as (
    update webhooks.destinations d
    set send_window = j.send_window, failure_streak = j.failure_streak,
      backoff_since = j.backoff_since, backoff_until = j.backoff_until,
      last_error = coalesce(j.last_error, d.last_error),
      last_error_at = case when j.last_error is not null then now() else d.last_error_at end,
      saturated = false,
      ready_at = case
        when j.backoff_until > now() then j.backoff_until
        -- A slot freed up: a full window may take its next delivery now.
        when d.saturated then now()
        else least(d.ready_at, j.first_retry)
      end
    from judged j
    where d.id = j.id and d.id = any(destination_ids)
      -- A healthy destination at its full window that only got answers has nothing to change.
      and ((j.send_window, j.failure_streak, j.backoff_since, j.backoff_until, j.saturated)
             is distinct from (d.send_window, d.failure_streak, d.backoff_since, d.backoff_until, false)
           or j.first_retry is not null or j.last_error is not null)
  )
  select o.delivery_id from owned o where o.drop_reason is not null;
end $$;

CREATE FUNCTION webhooks.record_render_status(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms double precision DEFAULT NULL::double precision, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb) RETURNS text
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
    if record_render_status.collection_id is not null then
      perform webhooks.check_collection_known(record_render_status.org_id, record_render_status.collection_id);
    end if;
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
        'duration_ms', record_render_status.duration_ms::integer)
    when record_render_status.error is null then
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms::integer)
    else
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms::integer,
        'error', json_build_object('code', record_render_status.error ->> 'code',
                                   'message', record_render_status.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    perform webhooks.check_reported_again(record_render_status.org_id, record_render_status.render_id,
      record_render_status.kind, record_render_status.collection_id);
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

CREATE FUNCTION webhooks.render_arguments_valid(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms double precision, webhook_url text, collection_id text, error jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$
  select coalesce(
    length(org_id) <= 200 and org_id ~ '^[A-Za-z0-9_.:-]+$'
    and length(render_id) <= 200 and render_id ~ '^[A-Za-z0-9_.:-]+$'
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200 and template_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (collection_id is null or (length(collection_id) <= 200 and collection_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (duration_ms is null
         or (duration_ms >= 0 and duration_ms <= 2147483647 and duration_ms = trunc(duration_ms)))
    and (webhook_url is null or (length(webhook_url) <= 2048 and webhooks.url_ok(webhook_url)
         and webhook_url !~ '[[:cntrl:]]'))
    and (result_url is null or (length(result_url) <= 4096 and result_url <> ''
         and result_url !~ '[[:cntrl:]]' and status <> 'failed'))
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096
         and error <> '{}'::jsonb and not error @> '{"code": ""}' and not error @> '{"message": ""}'
         and status <> 'completed')),
    false)
$_$;

CREATE FUNCTION webhooks.replay_deliveries(delivery_ids text[], dropped_only boolean) RETURNS TABLE(delivery_id text)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  replayed text[];
begin
  with done as (
    update webhooks.deliveries d
    set status = 'pending', failures = 0, replays = d.replays + 1, dropped_at = null, updated_at = now()
    where d.id = any(delivery_ids)
      and (d.status = 'dropped' or (d.status = 'delivered' and not dropped_only))
      and case when d.endpoint_id is null
            then exists (select 1 from webhooks.org_secrets s where s.org_id = d.org_id)
            else exists (select 1 from webhooks.endpoints ep
                         where ep.id = d.endpoint_id and ep.enabled and ep.deleted_at is null) end
    returning d.id
  )
  select array_agg(done.id) into replayed from done;
  return query select q.delivery_id from webhooks.enqueue_deliveries(coalesce(replayed, '{}')) q;
end $$;

CREATE FUNCTION webhooks.url_ok(url text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$
  select url ~ '^[Hh][Tt][Tt][Pp][Ss]?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:(|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?][^\s#\\]*)?$'
    -- A host whose last label is a number is read as an IPv4 address: it must be one.
    and (url !~ '^[A-Za-z]+://([^/?#:]*\.)?(0[Xx][0-9A-Fa-f]*|[0-9]+)\.?(:[0-9]*)?([/?]|$)'
         or url ~ '^[A-Za-z]+://((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.?(:[0-9]*)?([/?]|$)')
    and (substr(url, position('://' in url) + 3, 1) <> '['
         or webhooks.ipv6_literal_ok(substring(url from '^[A-Za-z]+://\[([^]/?#]*)\]')))
$_$;

CREATE FUNCTION webhooks.url_origin(url text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select lower(substring(url from '^([A-Za-z]+)://')) || '://'
    || lower(substring(url from '^[A-Za-z]+://(\[[^]/?#]*\]|[^/?#:]*)')) || ':'
    || coalesce(nullif(substring(url from '^[A-Za-z]+://(?:\[[^]/?#]*\]|[^/?#:]*):([0-9]{1,5})'), '')::integer,
         case lower(substring(url from '^([A-Za-z]+)://')) when 'https' then 443 else 80 end)::text
$$;

CREATE FUNCTION webhooks.wake_dispatcher() RETURNS void
    LANGUAGE plpgsql
    AS $$
declare
  until timestamptz;
  idle boolean;
begin
  if webhooks.polling_promised() then
    return;
  end if;
  select max(p.polling_until), bool_or(p.polling_until is null or p.polling_until <= clock_timestamp())
  into until, idle
  from webhooks.worker_pools p
  where p.heartbeat_at > clock_timestamp() - interval '5 seconds';
  if until > clock_timestamp() then
    perform set_config('webhooks.polling_until',
      extract(epoch from least(until, clock_timestamp() + interval '2 seconds'))::text, false);
  elsif idle then
    perform pg_notify('webhooks_outbox', '');
  else
    perform set_config('webhooks.polling_until',
      extract(epoch from clock_timestamp() + interval '1 second')::text, false);
  end if;
end $$;

CREATE FUNCTION webhooks.wake_held_destination(dest bigint, due timestamp with time zone) RETURNS void
    LANGUAGE sql
    AS $$
  update webhooks.destinations d
  set saturated = false,
    ready_at = case
      when d.backoff_until > now() then d.backoff_until
      when d.saturated then now()
      else least(d.ready_at, due)
    end
  where d.id = dest
$$;

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
    last_status_code integer,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    dropped_at timestamp with time zone,
    CONSTRAINT deliveries_dropped_at CHECK (((status = 'dropped'::text) = (dropped_at IS NOT NULL))),
    CONSTRAINT deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'dropped'::text])))
)
WITH (fillfactor='50');

CREATE TABLE webhooks.events (
    id text NOT NULL,
    org_id text NOT NULL,
    type text NOT NULL,
    subject_id text NOT NULL,
    webhook_url text,
    data json NOT NULL,
    created_at timestamp with time zone NOT NULL,
    fanned_out_at timestamp with time zone,
    test boolean DEFAULT false NOT NULL,
    fan_out_error text
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

CREATE TABLE webhooks.delivery_queue (
    delivery_id text NOT NULL,
    destination_id bigint NOT NULL,
    due_at timestamp with time zone NOT NULL,
    leased boolean DEFAULT false NOT NULL,
    leased_by text,
    attempts integer DEFAULT 0 NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    replays integer DEFAULT 0 NOT NULL,
    last_status_code integer,
    last_error text
)
WITH (fillfactor='80', autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');

CREATE VIEW webhooks.delivery_state AS
 SELECT d.id AS delivery_id,
    d.event_id,
    d.org_id,
    d.destination,
    d.endpoint_id,
    d.url,
        CASE
            WHEN q.leased THEN 'in_flight'::text
            ELSE d.status
        END AS status,
    COALESCE(q.attempts, d.attempts) AS attempts,
    COALESCE(q.failures, d.failures) AS failures,
    COALESCE(q.replays, d.replays) AS replays,
        CASE
            WHEN (NOT q.leased) THEN q.due_at
            ELSE NULL::timestamp with time zone
        END AS next_attempt_at,
    COALESCE(q.last_status_code, d.last_status_code) AS last_status_code,
    COALESCE(q.last_error, d.last_error) AS last_error,
    d.created_at,
    d.delivered_at,
    d.dropped_at,
    q.destination_id
   FROM (webhooks.deliveries d
     LEFT JOIN webhooks.delivery_queue q ON ((q.delivery_id = d.id)));

CREATE TABLE webhooks.destinations (
    id bigint NOT NULL,
    key text NOT NULL,
    org_id text NOT NULL,
    endpoint_id text,
    origin text,
    ready_at timestamp with time zone,
    saturated boolean DEFAULT false NOT NULL,
    send_window integer DEFAULT 1 NOT NULL,
    failure_streak integer DEFAULT 0 NOT NULL,
    backoff_since timestamp with time zone,
    backoff_until timestamp with time zone,
    tokens double precision DEFAULT 'Infinity'::double precision NOT NULL,
    tokens_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    last_error_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    set_aside_until timestamp with time zone,
    CONSTRAINT destinations_send_window_check CHECK ((send_window >= 1))
)
WITH (fillfactor='70', autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');

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
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    max_in_flight integer,
    rate_limit double precision,
    CONSTRAINT endpoints_max_in_flight CHECK (((max_in_flight >= 1) AND (max_in_flight <= 1000))),
    CONSTRAINT endpoints_rate_limit CHECK (((rate_limit > (0)::double precision) AND (rate_limit <= (10000)::double precision)))
);

CREATE VIEW webhooks.destination_status AS
 SELECT dest.id AS destination_id,
    dest.org_id,
    dest.endpoint_id,
    COALESCE(ep.url, dest.origin) AS target,
    ep.max_in_flight,
    ep.rate_limit,
    counts.in_flight,
    counts.due,
    counts.waiting,
        CASE
            WHEN (dest.backoff_since IS NOT NULL) THEN 'backing_off'::text
            ELSE 'healthy'::text
        END AS state,
    dest.backoff_since,
    dest.backoff_until,
    dest.send_window,
    dest.last_error,
    dest.last_error_at
   FROM ((webhooks.destinations dest
     LEFT JOIN webhooks.endpoints ep ON ((ep.id = dest.endpoint_id)))
     CROSS JOIN LATERAL ( SELECT (count(*) FILTER (WHERE (q.leased AND (q.due_at > now()))))::integer AS in_flight,
            (count(*) FILTER (WHERE ((NOT q.leased) AND (q.due_at <= now()))))::integer AS due,
            (count(*) FILTER (WHERE ((NOT q.leased) AND (q.due_at > now()))))::integer AS waiting
           FROM webhooks.delivery_queue q
          WHERE (q.destination_id = dest.id)) counts);

ALTER TABLE webhooks.destinations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME webhooks.destinations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

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
    last_success.at AS last_success_at,
    COALESCE(live.in_flight, 0) AS in_flight,
    COALESCE(live.due, 0) AS due,
    COALESCE(live.waiting, 0) AS waiting,
    COALESCE(live.state, 'healthy'::text) AS state,
    live.backoff_since,
    live.backoff_until,
    live.last_error
   FROM ((((webhooks.endpoints ep
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
     LEFT JOIN webhooks.destination_status live ON ((live.endpoint_id = ep.id)))
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

CREATE TABLE webhooks.portal_links (
    id text NOT NULL,
    org_id text NOT NULL,
    secret_hash text NOT NULL,
    capabilities text[] NOT NULL,
    session_seconds integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    CONSTRAINT portal_links_capabilities_check CHECK ((capabilities <@ ARRAY['manage_endpoints'::text, 'replay'::text, 'view_secrets'::text])),
    CONSTRAINT portal_links_check CHECK ((expires_at > created_at)),
    CONSTRAINT portal_links_session_seconds_check CHECK (((session_seconds >= 60) AND (session_seconds <= 3600)))
);

CREATE TABLE webhooks.portal_sessions (
    id text NOT NULL,
    org_id text NOT NULL,
    link_id text NOT NULL,
    secret_hash text NOT NULL,
    capabilities text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT portal_sessions_capabilities_check CHECK ((capabilities <@ ARRAY['manage_endpoints'::text, 'replay'::text, 'view_secrets'::text])),
    CONSTRAINT portal_sessions_check CHECK (((expires_at > created_at) AND (expires_at <= (created_at + '01:00:00'::interval))))
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

ALTER TABLE ONLY webhooks.delivery_queue
    ADD CONSTRAINT delivery_queue_pkey PRIMARY KEY (delivery_id);

ALTER TABLE ONLY webhooks.destinations
    ADD CONSTRAINT destinations_key_key UNIQUE (key);

ALTER TABLE ONLY webhooks.destinations
    ADD CONSTRAINT destinations_pkey PRIMARY KEY (id);

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

ALTER TABLE ONLY webhooks.portal_links
    ADD CONSTRAINT portal_links_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.portal_sessions
    ADD CONSTRAINT portal_sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.recoveries
    ADD CONSTRAINT recoveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY webhooks.worker_pools
    ADD CONSTRAINT worker_pools_pkey PRIMARY KEY (id);

CREATE INDEX attempts_endpoint_delivered ON webhooks.attempts USING btree (endpoint_id, started_at) WHERE ((outcome = 'delivered'::text) AND (endpoint_id IS NOT NULL));

CREATE INDEX attempts_endpoint_outcome ON webhooks.attempts USING btree (endpoint_id, started_at) INCLUDE (outcome, duration_ms) WHERE (endpoint_id IS NOT NULL);

CREATE INDEX attempts_started ON webhooks.attempts USING btree (started_at);

CREATE INDEX deliveries_created ON webhooks.deliveries USING btree (created_at);

CREATE INDEX deliveries_dropped ON webhooks.deliveries USING btree (dropped_at) WHERE (dropped_at IS NOT NULL);

CREATE INDEX deliveries_endpoint ON webhooks.deliveries USING btree (endpoint_id, created_at) WHERE (endpoint_id IS NOT NULL);

CREATE INDEX deliveries_endpoint_dropped ON webhooks.deliveries USING btree (endpoint_id, id) INCLUDE (created_at) WHERE ((dropped_at IS NOT NULL) AND (endpoint_id IS NOT NULL));

CREATE INDEX deliveries_org ON webhooks.deliveries USING btree (org_id, created_at);

CREATE INDEX deliveries_org_dropped ON webhooks.deliveries USING btree (org_id, id) INCLUDE (created_at) WHERE (dropped_at IS NOT NULL);

CREATE INDEX delivery_queue_destination ON webhooks.delivery_queue USING btree (destination_id, leased, due_at);

CREATE UNIQUE INDEX destinations_endpoint ON webhooks.destinations USING btree (endpoint_id) WHERE (endpoint_id IS NOT NULL);

CREATE INDEX destinations_ready ON webhooks.destinations USING btree (ready_at) WHERE (ready_at IS NOT NULL);

CREATE INDEX endpoints_org_enabled ON webhooks.endpoints USING btree (org_id) WHERE (enabled AND (deleted_at IS NULL));

CREATE INDEX events_set_aside ON webhooks.events USING btree (id) WHERE (fan_out_error IS NOT NULL);

CREATE UNIQUE INDEX events_subject ON webhooks.events USING btree (org_id, subject_id, ((type = 'collection.completed'::text)));

CREATE INDEX events_unfanned ON webhooks.events USING btree (id) WHERE (fanned_out_at IS NULL);

CREATE INDEX idempotency_keys_created ON webhooks.idempotency_keys USING btree (created_at);

CREATE INDEX portal_links_expires ON webhooks.portal_links USING btree (expires_at);

CREATE INDEX portal_sessions_expires ON webhooks.portal_sessions USING btree (expires_at);

CREATE INDEX portal_sessions_org ON webhooks.portal_sessions USING btree (org_id, id);

CREATE INDEX recoveries_org ON webhooks.recoveries USING btree (org_id, id);

ALTER TABLE ONLY webhooks.deliveries
    ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES webhooks.events(id);
