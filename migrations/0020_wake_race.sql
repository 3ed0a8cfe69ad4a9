-- A delivery fanned out or queued beside a claim could wait forever.
--
-- fan_out and enqueue_deliveries woke (and locked) only the destinations that were not ready
-- already. A destination that was ready stayed unlocked, so a claim could take it meanwhile,
-- find nothing due (the new deliveries were not committed yet), and set it to wait for nothing
-- (ready_at null): the deliveries then waited until something else woke that destination. Two
-- workers could always meet this way; the dispatcher's fan-out loop beside its claims met it
-- within a minute of load (test/store/wake-race.test.ts). Now every destination given a delivery
-- is locked, in id order as everywhere, and woken in a statement of its own, which sees what a
-- claim it waited for wrote. The events are marked before that, so the lock is held briefly.

create or replace function webhooks.fan_out(max_events integer, only_events text[] default null)
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

create or replace function webhooks.enqueue_deliveries(delivery_ids text[])
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
