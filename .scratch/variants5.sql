CREATE FUNCTION webhooks.v3(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb)
 RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $function$
  select coalesce(
    (org_id || ' ' || render_id || ' ' || coalesce(template_id, '-') || ' ' || coalesce(collection_id, '-')
      || ' ' || coalesce(webhook_url, 'http://-'))
      ~ '^[A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+ [A-Za-z0-9_.:-]+ [Hh][Tt][Tt][Pp][Ss]?://[^/?#\s@[:cntrl:]]+([/?][^\s#[:cntrl:]]*)?$'
    and length(org_id) <= 200
    and length(render_id) <= 200
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or length(template_id) <= 200)
    and (collection_id is null or length(collection_id) <= 200)
    and (duration_ms is null or duration_ms >= 0)
    and (webhook_url is null or length(webhook_url) <= 2048)
    and (result_url is null or length(result_url) <= 4096)
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096)),
    false)
$function$;
CREATE FUNCTION webhooks.r_v3(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v3(r_v3.org_id, r_v3.render_id,
      r_v3.kind, r_v3.status, r_v3.template_id,
      r_v3.result_url, r_v3.duration_ms, r_v3.webhook_url,
      r_v3.collection_id, r_v3.error) then
    perform webhooks.explain_render_arguments(r_v3.org_id, r_v3.render_id,
      r_v3.kind, r_v3.status, r_v3.template_id,
      r_v3.result_url, r_v3.duration_ms, r_v3.webhook_url,
      r_v3.collection_id, r_v3.error);
  end if;

  if r_v3.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_v3.org_id,
    r_v3.kind || '.' || r_v3.status,
    r_v3.render_id, r_v3.webhook_url,
    case when r_v3.status = 'completed' then
      json_build_object('id', r_v3.render_id, 'status', 'completed',
        'result_url', r_v3.result_url, 'template_id', r_v3.template_id,
        'duration_ms', r_v3.duration_ms)
    when r_v3.error is null then
      json_build_object('id', r_v3.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v3.template_id,
        'duration_ms', r_v3.duration_ms)
    else
      json_build_object('id', r_v3.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v3.template_id,
        'duration_ms', r_v3.duration_ms,
        'error', json_build_object('code', r_v3.error ->> 'code',
                                   'message', r_v3.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_v3.collection_id is not null then
    perform webhooks.count_collection_child(r_v3.org_id, r_v3.collection_id,
      r_v3.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_v3i(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v3(r_v3i.org_id, r_v3i.render_id,
      r_v3i.kind, r_v3i.status, r_v3i.template_id,
      r_v3i.result_url, r_v3i.duration_ms, r_v3i.webhook_url,
      r_v3i.collection_id, r_v3i.error) then
    perform webhooks.explain_render_arguments(r_v3i.org_id, r_v3i.render_id,
      r_v3i.kind, r_v3i.status, r_v3i.template_id,
      r_v3i.result_url, r_v3i.duration_ms, r_v3i.webhook_url,
      r_v3i.collection_id, r_v3i.error);
  end if;

  if r_v3i.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values ('evt_' || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0') || lpad(to_hex((random() * 134217728)::bigint), 7, '0'), r_v3i.org_id,
    r_v3i.kind || '.' || r_v3i.status,
    r_v3i.render_id, r_v3i.webhook_url,
    case when r_v3i.status = 'completed' then
      json_build_object('id', r_v3i.render_id, 'status', 'completed',
        'result_url', r_v3i.result_url, 'template_id', r_v3i.template_id,
        'duration_ms', r_v3i.duration_ms)
    when r_v3i.error is null then
      json_build_object('id', r_v3i.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v3i.template_id,
        'duration_ms', r_v3i.duration_ms)
    else
      json_build_object('id', r_v3i.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_v3i.template_id,
        'duration_ms', r_v3i.duration_ms,
        'error', json_build_object('code', r_v3i.error ->> 'code',
                                   'message', r_v3i.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing
  returning id into event_id;
  if event_id is null then
    return null;
  end if;

  if r_v3i.collection_id is not null then
    perform webhooks.count_collection_child(r_v3i.org_id, r_v3i.collection_id,
      r_v3i.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;