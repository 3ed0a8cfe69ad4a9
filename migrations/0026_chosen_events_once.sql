-- A fan-out of chosen events that names one twice fans it out once, as before 0022.
--
-- 0022 looked the chosen events up by joining the list of ids, so an id given twice made two
-- rows: the batch held the event twice, its deliveries were queued twice, and the fan-out failed
-- on delivery_queue's key. The ids are made distinct first. The dispatcher's own calls never
-- repeat an id (they come from the events table); an operator's might. The body is 0022's with
-- that one change, and restates its settings. A function body only: a rolling deploy is fine.

create or replace function webhooks.fan_out(max_events integer, only_events text[] default null)
returns integer language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
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
begin
  if only_events is null then
    select array_agg(b.id) into batch from (
      select e.id from webhooks.events e
      where e.fanned_out_at is null
      order by e.id limit max_events
      for update skip locked) b;
  else
    select array_agg(b.id) into batch from (
      select e.id from (select distinct x from unnest(only_events) x) o(id)
      join webhooks.events e on e.id = o.id
      where e.fanned_out_at is null
      order by e.id limit max_events
      for update of e skip locked) b;
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
    where not exists (select 1 from webhooks.destinations d where d.key = t.key)
    order by t.key
    on conflict (key) do nothing;

    with targets as (
      select t.*, d.id as destination_id
      from unnest(t_events, t_orgs, t_destinations, t_endpoints, t_urls, t_keys)
        t(event_id, org_id, destination, endpoint_id, url, key)
      join webhooks.destinations d on d.key = t.key
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
