create table webhooks.ev_d (id text primary key, org_id text not null, type text not null, subject_id text not null, webhook_url text, data json not null, created_at timestamptz not null, fanned_out_at timestamptz);
create index on webhooks.ev_d (id) where fanned_out_at is null;
create unique index on webhooks.ev_d (org_id, subject_id, (type = 'collection.completed'));
create table webhooks.ev_c (id text collate "C" primary key, org_id text collate "C" not null, type text collate "C" not null, subject_id text collate "C" not null, webhook_url text, data json not null, created_at timestamptz not null, fanned_out_at timestamptz);
create index on webhooks.ev_c (id) where fanned_out_at is null;
create unique index on webhooks.ev_c (org_id, subject_id, (type = 'collection.completed'));
CREATE FUNCTION webhooks.r_d(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_d.org_id, r_d.render_id,
      r_d.kind, r_d.status, r_d.template_id,
      r_d.result_url, r_d.duration_ms, r_d.webhook_url,
      r_d.collection_id, r_d.error) then
    perform webhooks.explain_render_arguments(r_d.org_id, r_d.render_id,
      r_d.kind, r_d.status, r_d.template_id,
      r_d.result_url, r_d.duration_ms, r_d.webhook_url,
      r_d.collection_id, r_d.error);
  end if;

  if r_d.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_d (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_d.org_id,
    r_d.kind || '.' || r_d.status,
    r_d.render_id, r_d.webhook_url,
    case when r_d.status = 'completed' then
      json_build_object('id', r_d.render_id, 'status', 'completed',
        'result_url', r_d.result_url, 'template_id', r_d.template_id,
        'duration_ms', r_d.duration_ms)
    when r_d.error is null then
      json_build_object('id', r_d.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_d.template_id,
        'duration_ms', r_d.duration_ms)
    else
      json_build_object('id', r_d.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_d.template_id,
        'duration_ms', r_d.duration_ms,
        'error', json_build_object('code', r_d.error ->> 'code',
                                   'message', r_d.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_d.collection_id is not null then
    perform webhooks.count_collection_child(r_d.org_id, r_d.collection_id,
      r_d.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_c(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_c.org_id, r_c.render_id,
      r_c.kind, r_c.status, r_c.template_id,
      r_c.result_url, r_c.duration_ms, r_c.webhook_url,
      r_c.collection_id, r_c.error) then
    perform webhooks.explain_render_arguments(r_c.org_id, r_c.render_id,
      r_c.kind, r_c.status, r_c.template_id,
      r_c.result_url, r_c.duration_ms, r_c.webhook_url,
      r_c.collection_id, r_c.error);
  end if;

  if r_c.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_c (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_c.org_id,
    r_c.kind || '.' || r_c.status,
    r_c.render_id, r_c.webhook_url,
    case when r_c.status = 'completed' then
      json_build_object('id', r_c.render_id, 'status', 'completed',
        'result_url', r_c.result_url, 'template_id', r_c.template_id,
        'duration_ms', r_c.duration_ms)
    when r_c.error is null then
      json_build_object('id', r_c.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_c.template_id,
        'duration_ms', r_c.duration_ms)
    else
      json_build_object('id', r_c.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_c.template_id,
        'duration_ms', r_c.duration_ms,
        'error', json_build_object('code', r_c.error ->> 'code',
                                   'message', r_c.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_c.collection_id is not null then
    perform webhooks.count_collection_child(r_c.org_id, r_c.collection_id,
      r_c.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;