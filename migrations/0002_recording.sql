-- Recording render status changes and collections, inside the caller's transaction.

-- A collection fires collection.completed once every child has reached completed or failed.
create function webhooks.open_collection(
  org_id text,
  collection_id text,
  child_count integer,
  template_id text default null,
  webhook_url text default null
) returns void
language plpgsql as $$
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
  -- Opening the same collection again is harmless; opening it with other numbers is a bug.
  select * into existing from webhooks.collections c
  where c.org_id = open_collection.org_id and c.id = open_collection.collection_id;
  if existing.child_count <> open_collection.child_count then
    perform webhooks.invalid('child_count', format('%s differs from %s, given when collection %s was opened',
      open_collection.child_count, existing.child_count, open_collection.collection_id));
  end if;
end $$;

-- Counts one finished child; on the last one, writes the collection.completed event.
-- The row lock taken by the UPDATE serializes concurrent children, so exactly one transaction
-- sees the count reach child_count.
create function webhooks.count_collection_child(org_id text, collection_id text, status text)
returns void
language plpgsql as $$
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

-- Records a render's status change. Returns the new event's id, or null when this is not the
-- render's first transition into completed or failed. Bad arguments raise 22023 naming the
-- argument, which aborts the caller's transaction: nothing half-written remains.
create function webhooks.record_render_status(
  org_id text,
  render_id text,
  kind text,
  status text,
  template_id text default null,
  result_url text default null,
  duration_ms integer default null,
  webhook_url text default null,
  collection_id text default null,
  error jsonb default null
) returns text
language plpgsql as $$
#variable_conflict use_column
declare
  event_id text;
  data json;
begin
  perform webhooks.check_id('org_id', record_render_status.org_id);
  perform webhooks.check_id('render_id', record_render_status.render_id);
  if record_render_status.kind is null or record_render_status.kind not in ('image', 'video') then
    perform webhooks.invalid('kind', format('must be ''image'' or ''video'', got %s',
      coalesce(quote_literal(left(record_render_status.kind, 40)), 'null')));
  end if;
  if record_render_status.status is null
     or record_render_status.status not in ('queued', 'rendering', 'completed', 'failed') then
    perform webhooks.invalid('status', format('must be one of queued, rendering, completed, failed, got %s',
      coalesce(quote_literal(left(record_render_status.status, 40)), 'null')));
  end if;
  if record_render_status.template_id is not null then
    perform webhooks.check_id('template_id', record_render_status.template_id);
  end if;
  if record_render_status.collection_id is not null then
    perform webhooks.check_id('collection_id', record_render_status.collection_id);
  end if;
  if record_render_status.duration_ms < 0 then
    perform webhooks.invalid('duration_ms', format('must not be negative, got %s', record_render_status.duration_ms));
  end if;
  perform webhooks.check_url('webhook_url', record_render_status.webhook_url);
  if record_render_status.result_url is not null and length(record_render_status.result_url) > 4096 then
    perform webhooks.invalid('result_url', format('is %s characters long; the limit is 4096', length(record_render_status.result_url)));
  end if;
  if record_render_status.error is not null then
    if jsonb_typeof(record_render_status.error) <> 'object'
       or exists (select 1 from jsonb_object_keys(record_render_status.error) k where k not in ('code', 'message'))
       or coalesce(jsonb_typeof(record_render_status.error -> 'code'), 'string') <> 'string'
       or coalesce(jsonb_typeof(record_render_status.error -> 'message'), 'string') <> 'string' then
      perform webhooks.invalid('error', 'must be a JSON object {code, message} of strings');
    elsif length(record_render_status.error::text) > 4096 then
      perform webhooks.invalid('error', 'is longer than 4096 characters');
    end if;
  end if;

  if record_render_status.status not in ('completed', 'failed') then
    return null;
  end if;

  if record_render_status.status = 'completed' then
    data := json_build_object('id', record_render_status.render_id, 'status', 'completed',
      'result_url', record_render_status.result_url, 'template_id', record_render_status.template_id,
      'duration_ms', record_render_status.duration_ms);
  elsif record_render_status.error is null then
    data := json_build_object('id', record_render_status.render_id, 'status', 'failed',
      'result_url', null, 'template_id', record_render_status.template_id,
      'duration_ms', record_render_status.duration_ms);
  else
    data := json_build_object('id', record_render_status.render_id, 'status', 'failed',
      'result_url', null, 'template_id', record_render_status.template_id,
      'duration_ms', record_render_status.duration_ms,
      'error', json_build_object('code', record_render_status.error ->> 'code',
                                 'message', record_render_status.error ->> 'message'));
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, record_render_status.org_id,
    record_render_status.kind || '.' || record_render_status.status,
    record_render_status.render_id, record_render_status.webhook_url, data, date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if record_render_status.collection_id is not null then
    perform webhooks.count_collection_child(record_render_status.org_id, record_render_status.collection_id,
      record_render_status.status);
  end if;

  perform webhooks.wake_dispatcher();
  return event_id;
end $$;
