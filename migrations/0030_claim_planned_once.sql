-- The claim, planned once per connection, and cheaper to run.
--
-- With PostgreSQL's default plan caching (0029) the claim's large statement was planned again with
-- each call's values when the claim went to few destinations: pg_stat_statements put its planning
-- at 40-53 us per delivery to one destination, more than its execution (33-46 us). It could not
-- simply be planned once: three of its joins paired two of its own lists (each destination's
-- figures with its list of deliveries, with what it took and with what comes next), which with a
-- generic plan and no hash joins cost 120 us per delivery over 1,000 destinations; with hash
-- joins allowed, a plan made from statistics that expect many rows may hash a whole table (one
-- reading of 0022's slow drains, see 0025).
--
-- Now each list row carries its destination's figures, the deliveries taken are picked by a
-- window over the lists (every destination's first turn, then every second, ...), and what was
-- taken and what comes next are counted from the same rows: no join pairs two lists. Every
-- other join looks rows up by key, driven by at most max_deliveries destinations and their
-- lists, so the statement is planned once per connection (plan_cache_mode) with hash and merge
-- joins off, whatever the statistics say. The list of ready destinations, with and without
-- only_destinations, is two statements so that each has a plan of its own. The claim takes the
-- same deliveries as before, in the same order (ties between destinations now broken by their
-- id). A function body and its settings only: a rolling deploy is fine.

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
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  turn_ids bigint[];
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
    -- and its expired leases, by when each may be taken; a destination with neither has one
    -- empty row. Each row carries its destination's figures, so nothing below joins two lists.
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
    -- The claim takes destinations' turns in order (every destination's first, then every
    -- second, ...), up to max_deliveries: what it takes of one destination is a run of its first
    -- turns, and what comes next is the earliest it leaves.
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
