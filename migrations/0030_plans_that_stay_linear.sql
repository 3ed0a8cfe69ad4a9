-- The claim, the fan-out and the outcome write: every plan linear in its batch, whatever the
-- statistics say, so each is planned once per connection.
--
-- Since 0022 the fan-out and the outcome write keep one generic plan per connection, and the
-- claim (0029) was planned again with each call's values whenever it went to few destinations:
-- pg_stat_statements put that planning at 40-53 us per delivery to one destination, more than
-- the claim's execution. A generic plan is made from the statistics of the moment and kept, and
-- a drain that starts right after its tables were analyzed nearly empty (a burst after a quiet
-- spell; on a server without autovacuum, for good) is planned as if they held one row each:
-- delivery_queue, destinations or deliveries read whole, by index, as the outer side of a
-- nested loop around the batch. Seen in a drain of 100,000 deliveries over 1,000 destinations:
-- the claim's lease update compared 46,330 queue rows with each of 34 chosen deliveries (1.5
-- million pairs) and took 60-500 ms a call, growing with the queue; the fan-out joined every
-- destination with each of 500 targets and its 500 new deliveries with its 500 targets (0.75
-- million pairs, 140-170 ms a call); the drain fell from 3,000 to under 830 deliveries a second
-- and did not recover. This is also the likeliest cause of 0022's unexplained slow drains.
--
-- One rule now holds in all three functions:
-- * a table is read for a list of rows by a LATERAL lookup of each row by its key (LIMIT 1, or
--   OFFSET 0 for several rows, keeps the planner from turning it into a join it may reverse),
--   or by `key = any(array)`; nothing reads a table whole;
-- * an UPDATE or DELETE that takes its values from a list also restricts its target to the
--   list's keys with `= any(array)`;
-- * what is left to join, lists with lists or with rows so restricted, is joined by hash, the
--   only join method these functions allow besides the lookups (enable_nestloop and
--   enable_mergejoin off: a nested loop that rescans a list, or a merge join that sorts a table,
--   grows with the square or with the table). A join method turned off still costs its plans
--   10^10 where nothing else can serve (the lookups), enough to make PostgreSQL compile every
--   call with JIT (about 1.7 s a claim): jit is off in these functions.
-- The claim also no longer joins its own lists: each list row carries its destination's
-- figures, the deliveries taken are picked by a window over the lists (every destination's
-- first turn, then every second, ...), and what was taken and what comes next are counted from
-- the same rows. And each destination's list is read only as far as its share of the claim
-- (the claim's limit over the destinations in turn): over 1,000 destinations a claim of 64 read
-- and ranked up to a send window's worth of each one's deliveries to take one. A claim whose
-- destinations have uneven backlogs may now take fewer than its limit; the next one, a moment
-- later, takes the rest, each destination still no more than its share.
-- The fan-out makes its deliveries' ids before inserting them, so it queues them without
-- joining what it inserted back to what it meant to insert. The claim's list of ready
-- destinations, with and without only_destinations, and the fan-out's queue insert (all made,
-- or only some because others existed) are separate statements, each with a plan of its own.
--
-- Same names, arguments and results; behaviour as before but for the claim's share and its
-- breaking ties between destinations by their id; a rolling deploy is fine.
-- test/store/linear-plans.test.ts plans the three on empty tables and runs them on full ones;
-- test/store/claim-lists.test.ts checks the claim's turns and its share.

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
set enable_nestloop = off
set enable_mergejoin = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
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

create or replace function webhooks.delivery_targets(event_ids text[])
returns table (event_id text, org_id text, destination text, endpoint_id text, url text,
  destination_key text, origin text)
language sql stable as $$
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

create or replace function webhooks.fan_out(max_events integer, only_events text[] default null)
returns integer language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_nestloop = off
set enable_mergejoin = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
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

create or replace function webhooks.record_outcomes(
  delivery_ids text[], attempt_nos integer[], replay_nos integer[], org_ids text[], endpoint_ids text[],
  destination_ids bigint[], started_ats timestamptz[], duration_mss integer[], status_codes integer[],
  error_codes text[], error_messages text[], excerpts text[], outcomes text[], statuses text[],
  retry_in_mss bigint[], signals text[], default_cap integer, pauses bigint[]
) returns table (delivery_id text)
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_nestloop = off
set enable_mergejoin = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
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
