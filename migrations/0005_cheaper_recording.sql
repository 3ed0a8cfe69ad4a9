-- Cheaper recording: record_render_status runs inside the render service's own transaction, so
-- every statement it executes is paid on the hot path. Before, it ran about ten PL/pgSQL
-- statements (one PERFORM per argument check) before its INSERT and read worker_pools on every
-- call; now one expression checks every argument (only a failing call takes the slow path, which
-- names the argument as before), and a session remembers a dispatcher's promise to poll.

-- Are these arguments valid? The same rules as the checks in explain_render_arguments, as one
-- SQL expression: inlined by the planner into record_render_status's IF, so it costs no call.
create function webhooks.render_arguments_valid(
  org_id text, render_id text, kind text, status text, template_id text, result_url text,
  duration_ms integer, webhook_url text, collection_id text, error jsonb
) returns boolean
language sql immutable parallel safe as $$
  select coalesce(
    length(org_id) <= 200 and org_id ~ '^[A-Za-z0-9_.:-]+$'
    and length(render_id) <= 200 and render_id ~ '^[A-Za-z0-9_.:-]+$'
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200 and template_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (collection_id is null or (length(collection_id) <= 200 and collection_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (duration_ms is null or duration_ms >= 0)
    -- check_url's rules: '@' is refused in the authority (credentials), control characters anywhere.
    and (webhook_url is null or (length(webhook_url) <= 2048
         and webhook_url ~* '^https?://[^/?#\s@]+([/?][^\s#]*)?$' and webhook_url !~ '[[:cntrl:]]'))
    and (result_url is null or length(result_url) <= 4096)
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096)),
    false)
$$;

-- The slow path: raises 22023 naming the first bad argument, in the order of the argument list.
create function webhooks.explain_render_arguments(
  org_id text, render_id text, kind text, status text, template_id text, result_url text,
  duration_ms integer, webhook_url text, collection_id text, error jsonb
) returns void
language plpgsql as $$
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

-- A dispatcher that advertises worker_pools.polling_until promises to poll the outbox until then
-- (and for a grace period after), so recorders need not NOTIFY. Reading worker_pools on every
-- recording was a tenth of recording's cost; each session now keeps the latest promise it read
-- (at most 2 s ahead) in a session setting, and reads the table again once it has passed. The
-- wake-up only saves latency: dispatchers also poll, so nothing is lost if a promise is broken
-- (a worker stopping early delays the next event by at most its poll interval).
create function webhooks.polling_promised() returns boolean
language sql volatile as $$
  select coalesce(nullif(current_setting('webhooks.polling_until', true), '')::float8, 0)
    > extract(epoch from clock_timestamp())
$$;

create or replace function webhooks.wake_dispatcher() returns void
language plpgsql volatile as $$
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

-- Same signature, same results and errors as in 0002; fewer statements on the success path.
create or replace function webhooks.record_render_status(
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
