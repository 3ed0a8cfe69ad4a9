-- Fair, capped, backed-off delivery per destination, on a leaner hot path.
--
-- Before, every due delivery waited in one line, oldest first, so one customer's server that hung
-- took every request slot of every worker and stopped everyone's webhooks. Now a destination (an
-- org endpoint, or an org plus the origin of a render's webhook_url) is the unit of fairness:
-- destinations take turns for the workers' slots, each has a cap on requests in flight across all
-- workers (the endpoint's max_in_flight, or the worker's WEBHOOK_DESTINATION_CONCURRENCY), an
-- optional rate limit, and a send window that starts small, grows with answers and falls back to a
-- single probe, spaced out, while the destination times out or refuses connections. Deliveries
-- held back that way make no attempt and spend no retry.
--
-- The scheduling state moves out of the wide deliveries row into webhooks.delivery_queue: one
-- narrow row per delivery still to be attempted, with the one index fair claiming needs, deleted
-- when the delivery settles. The deliveries row is written when it is made and when it settles
-- (an update that touches no indexed column, so it can be HOT). See docs/benchmarks.md.
--
-- Upgrading: deliveries pending or in flight move into the queue with their attempts, failures,
-- due times and leases. Workers of the previous version cannot claim once this has committed
-- (their statements name columns that are gone); replace them after migrating. Attempts they had
-- in flight are made again when their leases run out, with the same delivery id.

-- scheme://host:port of a destination URL, lower-cased, with the scheme's default port spelled
-- out: the requests of one render webhook_url origin share one destination.
create function webhooks.url_origin(url text) returns text
language sql immutable parallel safe as $$
  select lower(m[1]) || '://' || lower(m[2]) || ':'
    || coalesce(nullif(m[3], '')::integer, case lower(m[1]) when 'https' then 443 else 80 end)
  from (select regexp_match(url, '^([A-Za-z]+)://(\[[^]/?#]*\]|[^/?#:]*)(?::([0-9]{1,5}))?') as m) parts
$$;

-- An event that cannot be fanned out (a fault tied to its data, such as a trigger someone added
-- raising for it) is marked with the error and set aside, so it does not hold up every later one.
alter table webhooks.events add column fan_out_error text;

-- The key of the destination a delivery belongs to: its endpoint, or its org and its URL's origin.
create function webhooks.destination_key(org_id text, endpoint_id text, url text) returns text
language sql immutable parallel safe as $$
  select coalesce(endpoint_id, org_id || ' ' || coalesce(webhooks.url_origin(url), url))
$$;

-- Per-endpoint limits: requests in flight across all workers (null: the worker's default), and
-- requests per second (null: none).
alter table webhooks.endpoints
  add column max_in_flight integer
    constraint endpoints_max_in_flight check (max_in_flight between 1 and 1000),
  add column rate_limit double precision
    constraint endpoints_rate_limit check (rate_limit > 0 and rate_limit <= 10000);

-- A destination and its delivery state. Rows are made when the first delivery to them is.
create table webhooks.destinations (
  id bigint generated always as identity primary key,
  -- An endpoint id, or org_id || ' ' || origin for a render's own webhook_url.
  key text not null unique,
  org_id text not null,
  endpoint_id text,
  origin text,
  -- When the next claim should look at it: the oldest queued delivery's due time, now once it
  -- has had its turn, the end of a backoff, the next rate-limit token, the earliest lease expiry
  -- while its send window is full. Null: nothing queued.
  ready_at timestamptz,
  -- Its send window was full at the last claim: the next outcome makes it ready again.
  saturated boolean not null default false,
  -- Requests allowed in flight now (at most the cap): 1 at first and while backing off, growing
  -- by one per answer.
  send_window integer not null default 1 check (send_window >= 1),
  -- Backing off: consecutive probes that timed out or could not connect, since when, and the
  -- time before which no request is sent.
  failure_streak integer not null default 0,
  backoff_since timestamptz,
  backoff_until timestamptz,
  -- The rate limit's token bucket.
  tokens double precision not null default 'Infinity',
  tokens_at timestamptz not null default now(),
  last_error text,
  last_error_at timestamptz,
  created_at timestamptz not null default now()
) with (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
create index destinations_ready on webhooks.destinations (ready_at) where ready_at is not null;
create unique index destinations_endpoint on webhooks.destinations (endpoint_id) where endpoint_id is not null;

-- One row per delivery that still has an attempt to come. A leased row is being attempted by
-- worker pool leased_by, and due_at is when its lease runs out; otherwise due_at is when its next
-- attempt is due. attempts/failures/replays/last_* are the delivery's, while it is queued.
create table webhooks.delivery_queue (
  delivery_id text primary key,
  destination_id bigint not null,
  due_at timestamptz not null,
  leased boolean not null default false,
  leased_by text,
  attempts integer not null default 0,
  failures integer not null default 0,
  replays integer not null default 0,
  last_status_code integer,
  last_error text
) with (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
-- A destination's waiting deliveries oldest first, and its leases: every claim reads only these.
create index delivery_queue_destination on webhooks.delivery_queue (destination_id, leased, due_at);

-- Deliveries in progress move into the queue.
insert into webhooks.destinations (key, org_id, endpoint_id, origin)
select distinct on (k.key) k.key, k.org_id, k.endpoint_id, k.origin
from webhooks.deliveries d
cross join lateral (select
    webhooks.destination_key(d.org_id, d.endpoint_id, d.url) as key,
    d.org_id, d.endpoint_id,
    case when d.endpoint_id is null then webhooks.url_origin(d.url) end as origin) k
where d.status in ('pending', 'in_flight')
order by k.key;

insert into webhooks.delivery_queue (delivery_id, destination_id, due_at, leased, attempts, failures,
  replays, last_status_code, last_error)
select d.id, dest.id,
  case when d.status = 'in_flight' then coalesce(d.lease_until, now()) else coalesce(d.next_attempt_at, now()) end,
  d.status = 'in_flight', d.attempts, d.failures, d.replays, d.last_status_code, d.last_error
from webhooks.deliveries d
join webhooks.destinations dest on dest.key = webhooks.destination_key(d.org_id, d.endpoint_id, d.url)
where d.status in ('pending', 'in_flight');

update webhooks.destinations dest
set ready_at = (select min(q.due_at) from webhooks.delivery_queue q where q.destination_id = dest.id);

update webhooks.deliveries set status = 'pending' where status = 'in_flight';

-- The wide row keeps what it was made with and how it ended. Dropping the scheduling columns also
-- drops deliveries_due and deliveries_leased. The indexes of dropped deliveries now key on
-- dropped_at, which is set exactly when a delivery is dropped, so that no index refers to status
-- and settling a delivery as delivered changes no indexed column.
alter table webhooks.deliveries
  drop column next_attempt_at,
  drop column lease_until,
  drop constraint deliveries_status_check,
  add constraint deliveries_status_check check (status in ('pending', 'delivered', 'dropped')),
  add constraint deliveries_dropped_at check ((status = 'dropped') = (dropped_at is not null));
alter table webhooks.deliveries set (fillfactor = 80);
drop index webhooks.deliveries_dropped;
drop index webhooks.deliveries_endpoint_dropped;
drop index webhooks.deliveries_org_dropped;
create index deliveries_dropped on webhooks.deliveries (dropped_at) where dropped_at is not null;
create index deliveries_endpoint_dropped on webhooks.deliveries (endpoint_id, id) include (created_at)
  where dropped_at is not null and endpoint_id is not null;
create index deliveries_org_dropped on webhooks.deliveries (org_id, id) include (created_at)
  where dropped_at is not null;

-- The deliveries each of `event_ids` goes to: its own webhook_url, and every enabled endpoint of
-- its org subscribed to its type; with the key of the destination each belongs to.
create function webhooks.delivery_targets(event_ids text[])
returns table (event_id text, org_id text, destination text, endpoint_id text, url text,
  destination_key text, origin text)
language sql stable as $$
  select e.id, e.org_id, 'render_url', null::text, e.webhook_url,
    webhooks.destination_key(e.org_id, null, e.webhook_url), webhooks.url_origin(e.webhook_url)
  from webhooks.events e
  where e.id = any(event_ids) and e.webhook_url is not null
  union all
  select e.id, e.org_id, ep.id, ep.id, ep.url, ep.id, null::text
  from webhooks.events e
  join webhooks.endpoints ep on ep.org_id = e.org_id and ep.enabled and ep.deleted_at is null
  where e.id = any(event_ids) and webhooks.event_type_matches(ep.event_types, e.type)
$$;

-- Fans out up to `max_events` recorded events (or only those of `only_events`): one delivery per
-- target, queued and due now, its destination made if new and woken; then marks the events. Safe
-- to run twice and from several dispatchers: events are taken with SKIP LOCKED and (event,
-- destination) is unique. Returns how many events it fanned out.
--
-- Destination rows are locked in id order, here as in record_outcomes; claims skip locked ones.
-- Each statement of a PL/pgSQL function sees what committed before it: the destination another
-- dispatcher made meanwhile (its insert waited for it) is found by the next statement.
create function webhooks.fan_out(max_events integer, only_events text[] default null)
returns integer
language plpgsql as $$
declare
  batch text[];
  woken bigint[];
begin
  select array_agg(b.id) into batch from (
    select e.id from webhooks.events e
    where e.fanned_out_at is null and (only_events is null or e.id = any(only_events))
    order by e.id limit max_events
    for update skip locked) b;
  if batch is null then
    return 0;
  end if;

  insert into webhooks.destinations (key, org_id, endpoint_id, origin, ready_at)
  select distinct on (t.destination_key) t.destination_key, t.org_id, t.endpoint_id, t.origin, now()
  from webhooks.delivery_targets(batch) t
  where not exists (select 1 from webhooks.destinations d where d.key = t.destination_key)
  order by t.destination_key
  on conflict (key) do nothing;

  with targets as (
    select t.*, d.id as destination_id
    from webhooks.delivery_targets(batch) t
    join webhooks.destinations d on d.key = t.destination_key
  ), made as (
    insert into webhooks.deliveries (id, event_id, org_id, destination, endpoint_id, url)
    select webhooks.new_id('dlv'), t.event_id, t.org_id, t.destination, t.endpoint_id, t.url from targets t
    on conflict (event_id, destination) do nothing
    returning id, event_id, destination
  ), queued as (
    insert into webhooks.delivery_queue (delivery_id, destination_id, due_at)
    select m.id, t.destination_id, now()
    from made m join targets t on t.event_id = m.event_id and t.destination = m.destination
    returning destination_id
  )
  select array_agg(distinct q.destination_id) into woken from queued q;

  update webhooks.destinations d set ready_at = now()
  from (select x.id from webhooks.destinations x
        where x.id = any(woken) and (x.ready_at is null or x.ready_at > now()) and not x.saturated
          and (x.backoff_until is null or x.backoff_until <= now())
        order by x.id for update) w
  where d.id = w.id;

  update webhooks.events e set fanned_out_at = now() where e.id = any(batch);
  return cardinality(batch);
end $$;

-- Leases up to `max_deliveries` deliveries for `lease_ms` to worker pool `pool_id`, fairly across
-- destinations, and returns them with what is needed to send them.
--
-- The destinations whose turn it is (ready_at passed, oldest first, those of `passed_over` left
-- out) are locked first, skipping any another worker holds; the rest runs in a statement of its
-- own, whose snapshot is taken after the locks, so it sees every outcome and fan-out committed
-- before them. Each destination may have least(send_window, cap) - in flight leased at once (0
-- while backing off), fewer if its rate limit's tokens run short; its waiting deliveries come
-- oldest first. The slots are dealt round-robin: every destination's first delivery, then every
-- second one, and so on. A destination then goes to the back of the line (ready_at = now) if it
-- has more due work, or waits for its next due time, a token, its backoff's end, or, with its
-- window full, for an outcome (saturated) or the earliest expiry of its leases.
--
-- A lease that ran out is taken over (its attempt is logged as lost and made again) once its
-- worker pool is dead, or once it has been expired for another lease_ms: a pool that is alive
-- may still write the outcome it holds (after a database outage, for example), and taking the
-- delivery over would only send it twice. A worker that has just seen the database come back
-- gives the others time to beat again: it takes no lease over for `take_over_after_ms`.
create function webhooks.claim_deliveries(
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
        (select l.eligible_at from lists l where l.destination_id = a.id and l.turn = coalesce(t.k, 0) + 1)
          as next_at
      from allowed a left join taken t on t.destination_id = a.id
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

-- Writes a batch of attempt outcomes: the attempt rows; for each delivery still leased by that
-- attempt, its queue row rescheduled (a retry) or deleted and its deliveries row settled
-- (delivered, dropped); and each destination's state. Returns the deliveries dropped because
-- their endpoint was disabled or deleted while the attempt was in flight (no retry scheduled).
--
-- A result that comes too late (the lease was taken over) replaces the attempt row marked lost
-- with what the receiver answered, but schedules and drops nothing: the delivery is its new
-- owner's. `signals` says what each outcome tells of the destination: 'answered' (any HTTP
-- answer), 'unreachable' (timed out, refused, could not connect), or null (nothing: the worker
-- stopped, or nothing was sent). An answer grows the send window by one (up to the cap) and ends
-- a backoff; an unreachable destination outside a backoff starts or extends one: one request in
-- flight, none before now() + pauses[streak] (the last entry once the streak is longer).
create function webhooks.record_outcomes(
  delivery_ids text[], attempt_nos integer[], replay_nos integer[], org_ids text[], endpoint_ids text[],
  destination_ids bigint[], started_ats timestamptz[], duration_mss integer[], status_codes integer[],
  error_codes text[], error_messages text[], excerpts text[], outcomes text[], statuses text[],
  retry_in_mss bigint[], signals text[], default_cap integer, pauses bigint[]
) returns table (delivery_id text)
language plpgsql as $$
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
  ), owned as (
    -- The outcomes whose attempt still holds its delivery's lease; a retry for an endpoint
    -- disabled or deleted meanwhile is dropped now, not when it comes due.
    select g.*, q.attempts, q.failures, q.replays,
      case when gone then 'dropped' else g.status end as final_status,
      case when gone and g.outcome = 'retrying' then 'dropped' else g.outcome end as final_outcome,
      case when gone then 'endpoint_disabled: ' || coalesce(ep.disabled_reason, 'the endpoint was deleted') end
        as drop_reason,
      case when g.outcome = 'delivered' then null
           else coalesce(case when gone then 'endpoint_disabled: '
                                || coalesce(ep.disabled_reason, 'the endpoint was deleted') end,
                         g.error_code || ': ' || g.error_message, 'HTTP ' || g.status_code) end as error_text
    from given g
    join webhooks.delivery_queue q on q.delivery_id = g.delivery_id and q.leased and q.attempts = g.attempt_no
    left join webhooks.endpoints ep on ep.id = g.endpoint_id
    cross join lateral (select g.status = 'pending' and ep.id is not null
      and not (ep.enabled and ep.deleted_at is null) as gone) x
  ), rescheduled as (
    update webhooks.delivery_queue q
    set leased = false, leased_by = null,
      due_at = now() + o.retry_in_ms * interval '1 millisecond',
      failures = q.failures + (o.final_outcome = 'retrying')::integer,
      last_status_code = o.status_code, last_error = o.error_text
    from owned o
    where q.delivery_id = o.delivery_id and o.final_status = 'pending'
    returning q.delivery_id, q.due_at
  ), dequeued as (
    delete from webhooks.delivery_queue q using owned o
    where q.delivery_id = o.delivery_id and o.final_status <> 'pending'
    returning q.delivery_id
  ), settled as (
    update webhooks.deliveries d
    set status = o.final_status, attempts = o.attempts,
      failures = o.failures + (o.final_outcome = 'dropped')::integer, replays = o.replays,
      last_status_code = o.status_code, last_error = o.error_text,
      delivered_at = case when o.final_status = 'delivered' then now() else d.delivered_at end,
      dropped_at = case when o.final_status = 'dropped' then now() end,
      updated_at = now()
    from owned o join dequeued q on q.delivery_id = o.delivery_id
    where d.id = o.delivery_id
  ), logged as (
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, status_code, error_code, error_message, response_excerpt, outcome, retry_at)
    select g.delivery_id, g.attempt_no, g.replay_no, g.org_id, g.endpoint_id, g.started_at, g.duration_ms,
      g.status_code, g.error_code, g.error_message, g.excerpt,
      coalesce(o.final_outcome, g.outcome),
      case when o.final_status = 'pending' then now() + o.retry_in_ms * interval '1 millisecond' end
    from given g left join owned o on o.delivery_id = g.delivery_id
    -- A late result of a delivery that was pruned meanwhile is not written. FOR KEY SHARE waits
    -- for a prune deleting it, then finds it gone; unlike FOR SHARE it does not wait for another
    -- batch's update of it.
    where o.delivery_id is not null
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
      min(r.due_at) as first_retry,
      (array_agg(o.error_text order by o.started_at desc) filter (where o.error_text is not null))[1] as last_error
    from owned o left join rescheduled r on r.delivery_id = o.delivery_id
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
    join webhooks.destinations d on d.id = ob.destination_id
    left join webhooks.endpoints ep on ep.id = d.endpoint_id
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
    where d.id = j.id
      -- A healthy destination at its full window that only got answers has nothing to change.
      and ((j.send_window, j.failure_streak, j.backoff_since, j.backoff_until, j.saturated)
             is distinct from (d.send_window, d.failure_streak, d.backoff_since, d.backoff_until, false)
           or j.first_retry is not null or j.last_error is not null)
  )
  select o.delivery_id from owned o where o.drop_reason is not null;
end $$;

-- The last resort for an outcome that cannot be written (the batch that holds it fails, and so
-- does a batch of it alone): nothing about the attempt is kept but this. Its delivery, if this
-- attempt still holds it, is treated as failed: retried after `retry_in_ms`, or dropped with
-- `error` when its retries are spent; and if even that cannot be written, held with its error
-- and never retried by itself (due at infinity), for an operator. Returns what it did.
create function webhooks.hold_outcome(delivery_id text, attempt_no integer, error text, retry_in_ms bigint)
returns text
language plpgsql as $$
#variable_conflict use_variable
declare
  note text := 'outcome_unrecorded: ' || left(error, 500);
begin
  if retry_in_ms is not null then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = now() + retry_in_ms * interval '1 millisecond',
      failures = q.failures + 1, last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
    return case when found then 'retrying' else 'not_owned' end;
  end if;
  begin
    delete from webhooks.delivery_queue q
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
    if not found then
      return 'not_owned';
    end if;
    update webhooks.deliveries d
    set status = 'dropped', dropped_at = now(), last_error = note, updated_at = now()
    where d.id = hold_outcome.delivery_id;
    return 'dropped';
  exception when others then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = 'infinity', last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
    return case when found then 'held' else 'not_owned' end;
  end;
end $$;

-- Queues the deliveries of `delivery_ids` that are pending and not queued yet (a replay, an
-- example event), due now, with their destinations (made if new); then wakes those destinations
-- (locked in id order, as everywhere) and the dispatchers. Returns the ids it queued.
create function webhooks.enqueue_deliveries(delivery_ids text[])
returns table (delivery_id text)
language plpgsql as $$
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

  update webhooks.destinations d set ready_at = now()
  from (select x.id from webhooks.destinations x
        where x.id = any(woken) and (x.ready_at is null or x.ready_at > now()) and not x.saturated
          and (x.backoff_until is null or x.backoff_until <= now())
        order by x.id for update) w
  where d.id = w.id;
  if queued is not null then
    perform webhooks.wake_dispatcher();
  end if;
  return query select unnest(coalesce(queued, '{}'));
end $$;

-- Queues finished deliveries of `delivery_ids` again, keeping their ids, with a fresh retry budget
-- and due now: those delivered or dropped (dropped only, with `dropped_only`) whose destination
-- can receive them (an enabled endpoint, or an org with a render-webhook secret). The status is
-- checked in the UPDATE, so concurrent replays of the same delivery cannot both succeed. Their
-- next attempts carry the new replay number as attempts.replay_no. Returns the ids queued.
create function webhooks.replay_deliveries(delivery_ids text[], dropped_only boolean)
returns table (delivery_id text)
language plpgsql as $$
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

-- Recording NOTIFYs only when a live worker is listening idle: a hot dispatcher polls anyway (as
-- before), and with no worker alive nobody would hear it, while every recording paid the global
-- NOTIFY lock; a worker polls when it starts. A session remembers a hot promise (at most 2 s) or
-- that no worker is alive (1 s).
create or replace function webhooks.wake_dispatcher() returns void
language plpgsql volatile as $$
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

-- A delivery as it stands now: its deliveries row, with the queue's live state while it has
-- attempts to come (in_flight while leased).
create view webhooks.delivery_state as
select
  d.id as delivery_id,
  d.event_id,
  d.org_id,
  d.destination,
  d.endpoint_id,
  d.url,
  case when q.leased then 'in_flight' else d.status end as status,
  coalesce(q.attempts, d.attempts) as attempts,
  coalesce(q.failures, d.failures) as failures,
  coalesce(q.replays, d.replays) as replays,
  case when not q.leased then q.due_at end as next_attempt_at,
  coalesce(q.last_status_code, d.last_status_code) as last_status_code,
  coalesce(q.last_error, d.last_error) as last_error,
  d.created_at,
  d.delivered_at,
  d.dropped_at,
  q.destination_id
from webhooks.deliveries d
left join webhooks.delivery_queue q on q.delivery_id = d.id;

-- Per destination: requests in flight, deliveries due now and waiting for a later time, and
-- whether it is healthy or backing off (since when, until when), with its last error.
create view webhooks.destination_status as
select
  dest.id as destination_id,
  dest.org_id,
  dest.endpoint_id,
  coalesce(ep.url, dest.origin) as target,
  ep.max_in_flight,
  ep.rate_limit,
  counts.in_flight,
  counts.due,
  counts.waiting,
  case when dest.backoff_since is not null then 'backing_off' else 'healthy' end as state,
  dest.backoff_since,
  dest.backoff_until,
  dest.send_window,
  dest.last_error,
  dest.last_error_at
from webhooks.destinations dest
left join webhooks.endpoints ep on ep.id = dest.endpoint_id
cross join lateral (
  select
    count(*) filter (where q.leased and q.due_at > now())::integer as in_flight,
    count(*) filter (where not q.leased and q.due_at <= now())::integer as due,
    count(*) filter (where not q.leased and q.due_at > now())::integer as waiting
  from webhooks.delivery_queue q
  where q.destination_id = dest.id
) counts;

-- endpoint_health gains the endpoint's live delivery state, as columns after the earlier ones.
create or replace view webhooks.endpoint_health as
select
  ep.id as endpoint_id,
  ep.org_id,
  ep.url,
  ep.enabled,
  recent.attempts,
  recent.success_rate,
  recent.p50_ms,
  recent.p95_ms,
  failing.consecutive_failures,
  last_success.at as last_success_at,
  coalesce(live.in_flight, 0) as in_flight,
  coalesce(live.due, 0) as due,
  coalesce(live.waiting, 0) as waiting,
  coalesce(live.state, 'healthy') as state,
  live.backoff_since,
  live.backoff_until,
  live.last_error
from webhooks.endpoints ep
cross join lateral (
  select
    count(*)::int as attempts,
    (count(*) filter (where a.outcome = 'delivered'))::float8 / nullif(count(*), 0) as success_rate,
    percentile_cont(0.5) within group (order by a.duration_ms) as p50_ms,
    percentile_cont(0.95) within group (order by a.duration_ms) as p95_ms
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.started_at >= now() - interval '24 hours' and a.outcome <> 'lost'
) recent
cross join lateral (
  select max(a.started_at) as at
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.outcome = 'delivered'
) last_success
cross join lateral (
  select count(*)::int as consecutive_failures
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.outcome in ('retrying', 'dropped')
    and a.started_at > coalesce(last_success.at, '-infinity')
) failing
left join webhooks.destination_status live on live.endpoint_id = ep.id
where ep.deleted_at is null;

-- Raises 22023 naming max_in_flight or rate_limit when out of range.
create function webhooks.check_endpoint_limits(max_in_flight integer, rate_limit double precision)
returns void
language plpgsql immutable as $$
begin
  if max_in_flight is not null and (max_in_flight < 1 or max_in_flight > 1000) then
    perform webhooks.invalid('max_in_flight', format('must be between 1 and 1000, got %s', max_in_flight));
  end if;
  if rate_limit is not null and not (rate_limit > 0 and rate_limit <= 10000) then
    perform webhooks.invalid('rate_limit', format('must be more than 0 and at most 10000 per second, got %s', rate_limit));
  end if;
end $$;

-- Registration takes the endpoint's limits too.
drop function webhooks.create_endpoint(text, text, text, text[], text);
create function webhooks.create_endpoint(
  org_id text,
  url text,
  secret text,
  event_types text[] default null,
  description text default null,
  max_in_flight integer default null,
  rate_limit double precision default null
) returns text
language plpgsql as $$
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
