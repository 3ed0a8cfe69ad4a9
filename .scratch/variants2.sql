CREATE FUNCTION webhooks.r_same(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_same.org_id, r_same.render_id,
      r_same.kind, r_same.status, r_same.template_id,
      r_same.result_url, r_same.duration_ms, r_same.webhook_url,
      r_same.collection_id, r_same.error) then
    perform webhooks.explain_render_arguments(r_same.org_id, r_same.render_id,
      r_same.kind, r_same.status, r_same.template_id,
      r_same.result_url, r_same.duration_ms, r_same.webhook_url,
      r_same.collection_id, r_same.error);
  end if;

  if r_same.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_same.org_id,
    r_same.kind || '.' || r_same.status,
    r_same.render_id, r_same.webhook_url,
    case when r_same.status = 'completed' then
      json_build_object('id', r_same.render_id, 'status', 'completed',
        'result_url', r_same.result_url, 'template_id', r_same.template_id,
        'duration_ms', r_same.duration_ms)
    when r_same.error is null then
      json_build_object('id', r_same.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_same.template_id,
        'duration_ms', r_same.duration_ms)
    else
      json_build_object('id', r_same.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_same.template_id,
        'duration_ms', r_same.duration_ms,
        'error', json_build_object('code', r_same.error ->> 'code',
                                   'message', r_same.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_same.collection_id is not null then
    perform webhooks.count_collection_child(r_same.org_id, r_same.collection_id,
      r_same.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_inlid(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_inlid.org_id, r_inlid.render_id,
      r_inlid.kind, r_inlid.status, r_inlid.template_id,
      r_inlid.result_url, r_inlid.duration_ms, r_inlid.webhook_url,
      r_inlid.collection_id, r_inlid.error) then
    perform webhooks.explain_render_arguments(r_inlid.org_id, r_inlid.render_id,
      r_inlid.kind, r_inlid.status, r_inlid.template_id,
      r_inlid.result_url, r_inlid.duration_ms, r_inlid.webhook_url,
      r_inlid.collection_id, r_inlid.error);
  end if;

  if r_inlid.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values ('evt_' || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0') || lpad(to_hex((random() * 134217728)::bigint), 7, '0'), r_inlid.org_id,
    r_inlid.kind || '.' || r_inlid.status,
    r_inlid.render_id, r_inlid.webhook_url,
    case when r_inlid.status = 'completed' then
      json_build_object('id', r_inlid.render_id, 'status', 'completed',
        'result_url', r_inlid.result_url, 'template_id', r_inlid.template_id,
        'duration_ms', r_inlid.duration_ms)
    when r_inlid.error is null then
      json_build_object('id', r_inlid.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_inlid.template_id,
        'duration_ms', r_inlid.duration_ms)
    else
      json_build_object('id', r_inlid.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_inlid.template_id,
        'duration_ms', r_inlid.duration_ms,
        'error', json_build_object('code', r_inlid.error ->> 'code',
                                   'message', r_inlid.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing
  returning id into event_id;
  if event_id is null then
    return null;
  end if;

  if r_inlid.collection_id is not null then
    perform webhooks.count_collection_child(r_inlid.org_id, r_inlid.collection_id,
      r_inlid.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_noval(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin

  if r_noval.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_noval.org_id,
    r_noval.kind || '.' || r_noval.status,
    r_noval.render_id, r_noval.webhook_url,
    case when r_noval.status = 'completed' then
      json_build_object('id', r_noval.render_id, 'status', 'completed',
        'result_url', r_noval.result_url, 'template_id', r_noval.template_id,
        'duration_ms', r_noval.duration_ms)
    when r_noval.error is null then
      json_build_object('id', r_noval.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_noval.template_id,
        'duration_ms', r_noval.duration_ms)
    else
      json_build_object('id', r_noval.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_noval.template_id,
        'duration_ms', r_noval.duration_ms,
        'error', json_build_object('code', r_noval.error ->> 'code',
                                   'message', r_noval.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_noval.collection_id is not null then
    perform webhooks.count_collection_child(r_noval.org_id, r_noval.collection_id,
      r_noval.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_nopoll(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_nopoll.org_id, r_nopoll.render_id,
      r_nopoll.kind, r_nopoll.status, r_nopoll.template_id,
      r_nopoll.result_url, r_nopoll.duration_ms, r_nopoll.webhook_url,
      r_nopoll.collection_id, r_nopoll.error) then
    perform webhooks.explain_render_arguments(r_nopoll.org_id, r_nopoll.render_id,
      r_nopoll.kind, r_nopoll.status, r_nopoll.template_id,
      r_nopoll.result_url, r_nopoll.duration_ms, r_nopoll.webhook_url,
      r_nopoll.collection_id, r_nopoll.error);
  end if;

  if r_nopoll.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_nopoll.org_id,
    r_nopoll.kind || '.' || r_nopoll.status,
    r_nopoll.render_id, r_nopoll.webhook_url,
    case when r_nopoll.status = 'completed' then
      json_build_object('id', r_nopoll.render_id, 'status', 'completed',
        'result_url', r_nopoll.result_url, 'template_id', r_nopoll.template_id,
        'duration_ms', r_nopoll.duration_ms)
    when r_nopoll.error is null then
      json_build_object('id', r_nopoll.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nopoll.template_id,
        'duration_ms', r_nopoll.duration_ms)
    else
      json_build_object('id', r_nopoll.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nopoll.template_id,
        'duration_ms', r_nopoll.duration_ms,
        'error', json_build_object('code', r_nopoll.error ->> 'code',
                                   'message', r_nopoll.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_nopoll.collection_id is not null then
    perform webhooks.count_collection_child(r_nopoll.org_id, r_nopoll.collection_id,
      r_nopoll.status);
  end if;

  return event_id;
end $function$

;