CREATE FUNCTION webhooks.v0(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
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
$function$

;
CREATE FUNCTION webhooks.r_v0(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v0(r_v0.org_id, r_v0.render_id,
      r_v0.kind, r_v0.status, r_v0.template_id,
      r_v0.result_url, r_v0.duration_ms, r_v0.webhook_url,
      r_v0.collection_id, r_v0.error) then
    perform webhooks.explain_render_arguments(r_v0.org_id, r_v0.render_id,
      r_v0.kind, r_v0.status, r_v0.template_id,
      r_v0.result_url, r_v0.duration_ms, r_v0.webhook_url,
      r_v0.collection_id, r_v0.error);
  end if;

  if r_v0.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_v0.org_id,
    r_v0.kind || '.' || r_v0.status,
    r_v0.render_id, r_v0.webhook_url,
    case when r_v0.status = 'completed' then
      json_build_object('id', r_v0.render_id, 'status', 'completed',
        'result_url', r_v0.result_url, 'template_id', r_v0.template_id,
        'duration_ms', r_v0.duration_ms)
    when r_v0.error is null then
      json_build_object('id', r_v0.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v0.template_id,
        'duration_ms', r_v0.duration_ms)
    else
      json_build_object('id', r_v0.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v0.template_id,
        'duration_ms', r_v0.duration_ms,
        'error', json_build_object('code', r_v0.error ->> 'code',
                                   'message', r_v0.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_v0.collection_id is not null then
    perform webhooks.count_collection_child(r_v0.org_id, r_v0.collection_id,
      r_v0.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.v1(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  select coalesce(
    length(org_id) <= 200
    and length(render_id) <= 200
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200))
    and (collection_id is null or (length(collection_id) <= 200))
    and (duration_ms is null or duration_ms >= 0)
    -- check_url's rules: '@' is refused in the authority (credentials), control characters anywhere.
    and (webhook_url is null or (length(webhook_url) <= 2048
        ))
    and (result_url is null or length(result_url) <= 4096)
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096)),
    false)
$function$

;
CREATE FUNCTION webhooks.r_v1(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v1(r_v1.org_id, r_v1.render_id,
      r_v1.kind, r_v1.status, r_v1.template_id,
      r_v1.result_url, r_v1.duration_ms, r_v1.webhook_url,
      r_v1.collection_id, r_v1.error) then
    perform webhooks.explain_render_arguments(r_v1.org_id, r_v1.render_id,
      r_v1.kind, r_v1.status, r_v1.template_id,
      r_v1.result_url, r_v1.duration_ms, r_v1.webhook_url,
      r_v1.collection_id, r_v1.error);
  end if;

  if r_v1.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_v1.org_id,
    r_v1.kind || '.' || r_v1.status,
    r_v1.render_id, r_v1.webhook_url,
    case when r_v1.status = 'completed' then
      json_build_object('id', r_v1.render_id, 'status', 'completed',
        'result_url', r_v1.result_url, 'template_id', r_v1.template_id,
        'duration_ms', r_v1.duration_ms)
    when r_v1.error is null then
      json_build_object('id', r_v1.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v1.template_id,
        'duration_ms', r_v1.duration_ms)
    else
      json_build_object('id', r_v1.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v1.template_id,
        'duration_ms', r_v1.duration_ms,
        'error', json_build_object('code', r_v1.error ->> 'code',
                                   'message', r_v1.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_v1.collection_id is not null then
    perform webhooks.count_collection_child(r_v1.org_id, r_v1.collection_id,
      r_v1.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.v2(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  select coalesce((org_id || ' ' || render_id || ' ' || coalesce(template_id, 'x') || ' ' || coalesce(collection_id, 'x')) ~ '^[A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+$' and 
    length(org_id) <= 200
    and length(render_id) <= 200
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200))
    and (collection_id is null or (length(collection_id) <= 200))
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
$function$

;
CREATE FUNCTION webhooks.r_v2(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v2(r_v2.org_id, r_v2.render_id,
      r_v2.kind, r_v2.status, r_v2.template_id,
      r_v2.result_url, r_v2.duration_ms, r_v2.webhook_url,
      r_v2.collection_id, r_v2.error) then
    perform webhooks.explain_render_arguments(r_v2.org_id, r_v2.render_id,
      r_v2.kind, r_v2.status, r_v2.template_id,
      r_v2.result_url, r_v2.duration_ms, r_v2.webhook_url,
      r_v2.collection_id, r_v2.error);
  end if;

  if r_v2.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_v2.org_id,
    r_v2.kind || '.' || r_v2.status,
    r_v2.render_id, r_v2.webhook_url,
    case when r_v2.status = 'completed' then
      json_build_object('id', r_v2.render_id, 'status', 'completed',
        'result_url', r_v2.result_url, 'template_id', r_v2.template_id,
        'duration_ms', r_v2.duration_ms)
    when r_v2.error is null then
      json_build_object('id', r_v2.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v2.template_id,
        'duration_ms', r_v2.duration_ms)
    else
      json_build_object('id', r_v2.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v2.template_id,
        'duration_ms', r_v2.duration_ms,
        'error', json_build_object('code', r_v2.error ->> 'code',
                                   'message', r_v2.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_v2.collection_id is not null then
    perform webhooks.count_collection_child(r_v2.org_id, r_v2.collection_id,
      r_v2.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;