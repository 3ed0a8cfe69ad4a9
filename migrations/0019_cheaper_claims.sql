-- Fanning out and claiming, cheaper: three fixes found by profiling the drain over 1,000
-- destinations (docs/benchmarks.md).
--
-- url_origin ran as a function of its own for every render-URL delivery fanned out (its body
-- read from a subquery, and appended an integer to text, a stable operator: either keeps
-- PostgreSQL from inlining an immutable function): about 80 us a call, twice per delivery, the
-- largest part of fanning out. It is one immutable expression now, inlined where it is used,
-- and gives the same origin for every URL (test/store/cheaper-fan-out.test.ts).
create or replace function webhooks.url_origin(url text) returns text
language sql immutable parallel safe as $$
  select lower(substring(url from '^([A-Za-z]+)://')) || '://'
    || lower(substring(url from '^[A-Za-z]+://(\[[^]/?#]*\]|[^/?#:]*)')) || ':'
    || coalesce(nullif(substring(url from '^[A-Za-z]+://(?:\[[^]/?#]*\]|[^/?#:]*):([0-9]{1,5})'), '')::integer,
         case lower(substring(url from '^([A-Za-z]+)://')) when 'https' then 443 else 80 end)::text
$$;

-- delivery_targets let the planner choose how to find the batch's events: it read every event
-- of an org (from its endpoints) or the whole table, keeping those of the batch, and a fan-out
-- grew slower with the history. It looks each event of the batch up by its key now.
create or replace function webhooks.delivery_targets(event_ids text[])
returns table (event_id text, org_id text, destination text, endpoint_id text, url text,
  destination_key text, origin text)
language sql stable as $$
  with batch as materialized (
    -- One lookup by key per event (LIMIT keeps the planner from reading the table instead).
    select e.id, e.org_id, e.type, e.webhook_url
    from unnest(event_ids) b(id)
    cross join lateral (select x.* from webhooks.events x where x.id = b.id limit 1) e
  )
  select e.id, e.org_id, 'render_url', null::text, e.webhook_url,
    webhooks.destination_key(e.org_id, null, e.webhook_url), webhooks.url_origin(e.webhook_url)
  from batch e
  where e.webhook_url is not null
  union all
  select e.id, e.org_id, ep.id, ep.id, ep.url, ep.id, null::text
  from batch e
  join webhooks.endpoints ep on ep.org_id = e.org_id and ep.enabled and ep.deleted_at is null
  where webhooks.event_type_matches(ep.event_types, e.type)
$$;

-- event_type_matches read its patterns with a subquery, which kept it from being inlined: about
-- 30 us for each event and endpoint fanned out. Patterns are event types or families of them
-- ('video.*', see check_event_types), and '*' matches every type; it is one expression now.
create or replace function webhooks.event_type_matches(patterns text[], type text) returns boolean
language sql immutable parallel safe as $$
  select patterns is null or type = any(patterns) or split_part(type, '.', 1) || '.*' = any(patterns)
    or '*' = any(patterns)
$$;

-- claim_deliveries looked up what comes next for each destination in its turn with a subquery
-- over every destination's list, three times over: with 64 destinations of 10 waiting
-- deliveries each, 120,000 rows read per claim, about half its time. It is a join now; the
-- function is otherwise as 0013 made it.
create or replace function webhooks.claim_deliveries(
  max_deliveries integer,
  lease_ms integer,
  default_cap integer,
  pool_id text,
  passed_over bigint[] default '{}',
  only_destinations bigint[] default null,
  take_over_after_ms integer default 0
) returns table (id text, event_id text, org_id text, destination text, destination_id bigint,
  endpoint_id text, url text, attempts integer, failures integer, replays integer, type text,
  created_at timestamptz, data json, test boolean, active boolean, secret text, previous_secret text)
language plpgsql as $$
#variable_conflict use_column
declare
  turn_ids bigint[];
  lease interval := lease_ms * interval '1 millisecond';
begin
  select array_agg(r.id) into turn_ids from (
    select d.id from webhooks.destinations d
    where d.ready_at <= now() and d.id <> all(passed_over)
      and (only_destinations is null or d.id = any(only_destinations))
    order by d.ready_at limit max_deliveries
    for update skip locked) r;
  if turn_ids is null then
    return;
  end if;

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
    left join webhooks.endpoints ep on ep.id = d.endpoint_id
    cross join lateral (
      select count(*)::integer as n, min(q.due_at) as first_expiry
      from webhooks.delivery_queue q
      where q.destination_id = d.id and q.leased and q.due_at > now()) live
    where d.id = any(turn_ids)
  ), allowed as (
    select s.*,
      case when s.backoff_until > now() then 0
        else greatest(0, least(least(s.send_window, s.cap) - s.in_flight,
                               coalesce(floor(s.tokens)::integer, max_deliveries), max_deliveries))
      end as n
    from sized s
  ), lists as (
    -- Each destination's waiting deliveries (one more than it may take, to know what comes next)
    -- and its expired leases, by when each may be taken.
    select a.id as destination_id, l.delivery_id, l.eligible_at, l.takeover,
      row_number() over (partition by a.id order by l.eligible_at, l.delivery_id) as turn
    from allowed a
    cross join lateral (
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
    ) l
  ), chosen as (
    select l.destination_id, l.delivery_id, l.takeover
    from lists l join allowed a on a.id = l.destination_id
    where l.turn <= a.n and l.eligible_at <= now()
    order by l.turn, l.eligible_at
    limit max_deliveries
  ), taken as (
    select c.destination_id, count(*)::integer as k from chosen c group by c.destination_id
  ), lost as (
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, error_code, error_message, outcome)
    select q.delivery_id, q.attempts, q.replays, dl.org_id, dl.endpoint_id, q.due_at - lease, 0, 'worker_lost',
      'the worker holding this attempt stopped before recording its outcome', 'lost'
    from chosen c
    join webhooks.delivery_queue q on q.delivery_id = c.delivery_id
    join webhooks.deliveries dl on dl.id = c.delivery_id
    where c.takeover
    on conflict (delivery_id, attempt_no) do nothing
  ), claimed as (
    update webhooks.delivery_queue q
    set leased = true, leased_by = pool_id, attempts = q.attempts + 1, due_at = now() + lease
    from chosen c
    where q.delivery_id = c.delivery_id
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
      select a.id, a.rate_limit, a.tokens, a.backoff_until, coalesce(t.k, 0) as k,
        a.in_flight + coalesce(t.k, 0) >= least(a.send_window, a.cap) as full,
        least(a.first_expiry, case when t.k > 0 then now() + lease end) as leases_until,
        nx.eligible_at as next_at
      from allowed a
      left join taken t on t.destination_id = a.id
      -- What comes next: a join, not a subquery per destination (that would scan every list).
      left join lists nx on nx.destination_id = a.id and nx.turn = coalesce(t.k, 0) + 1
    ) m
    where d.id = m.id
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
  join webhooks.deliveries dl on dl.id = c.delivery_id
  join webhooks.events e on e.id = dl.event_id
  left join webhooks.endpoints ep on ep.id = dl.endpoint_id
  left join webhooks.org_secrets os on dl.endpoint_id is null and os.org_id = dl.org_id;
end $$;
