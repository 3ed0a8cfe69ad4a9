create table webhooks.ev_nounf (like webhooks.events including defaults); alter table webhooks.ev_nounf add primary key (id); create unique index on webhooks.ev_nounf (org_id, subject_id, (type = 'collection.completed'));
create table webhooks.ev_full (like webhooks.events including defaults); alter table webhooks.ev_full add primary key (id); create unique index on webhooks.ev_full (org_id, subject_id, (type = 'collection.completed')); create index on webhooks.ev_full (id) where fanned_out_at is null;
create table webhooks.ev_nopk (like webhooks.events including defaults); create unique index on webhooks.ev_nopk (org_id, subject_id, (type = 'collection.completed')); create index on webhooks.ev_nopk (id) where fanned_out_at is null;
CREATE FUNCTION webhooks.r_full(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_full.org_id, r_full.render_id,
      r_full.kind, r_full.status, r_full.template_id,
      r_full.result_url, r_full.duration_ms, r_full.webhook_url,
      r_full.collection_id, r_full.error) then
    perform webhooks.explain_render_arguments(r_full.org_id, r_full.render_id,
      r_full.kind, r_full.status, r_full.template_id,
      r_full.result_url, r_full.duration_ms, r_full.webhook_url,
      r_full.collection_id, r_full.error);
  end if;

  if r_full.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_full (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_full.org_id,
    r_full.kind || '.' || r_full.status,
    r_full.render_id, r_full.webhook_url,
    case when r_full.status = 'completed' then
      json_build_object('id', r_full.render_id, 'status', 'completed',
        'result_url', r_full.result_url, 'template_id', r_full.template_id,
        'duration_ms', r_full.duration_ms)
    when r_full.error is null then
      json_build_object('id', r_full.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_full.template_id,
        'duration_ms', r_full.duration_ms)
    else
      json_build_object('id', r_full.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_full.template_id,
        'duration_ms', r_full.duration_ms,
        'error', json_build_object('code', r_full.error ->> 'code',
                                   'message', r_full.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_full.collection_id is not null then
    perform webhooks.count_collection_child(r_full.org_id, r_full.collection_id,
      r_full.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_nounf(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_nounf.org_id, r_nounf.render_id,
      r_nounf.kind, r_nounf.status, r_nounf.template_id,
      r_nounf.result_url, r_nounf.duration_ms, r_nounf.webhook_url,
      r_nounf.collection_id, r_nounf.error) then
    perform webhooks.explain_render_arguments(r_nounf.org_id, r_nounf.render_id,
      r_nounf.kind, r_nounf.status, r_nounf.template_id,
      r_nounf.result_url, r_nounf.duration_ms, r_nounf.webhook_url,
      r_nounf.collection_id, r_nounf.error);
  end if;

  if r_nounf.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_nounf (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_nounf.org_id,
    r_nounf.kind || '.' || r_nounf.status,
    r_nounf.render_id, r_nounf.webhook_url,
    case when r_nounf.status = 'completed' then
      json_build_object('id', r_nounf.render_id, 'status', 'completed',
        'result_url', r_nounf.result_url, 'template_id', r_nounf.template_id,
        'duration_ms', r_nounf.duration_ms)
    when r_nounf.error is null then
      json_build_object('id', r_nounf.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nounf.template_id,
        'duration_ms', r_nounf.duration_ms)
    else
      json_build_object('id', r_nounf.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nounf.template_id,
        'duration_ms', r_nounf.duration_ms,
        'error', json_build_object('code', r_nounf.error ->> 'code',
                                   'message', r_nounf.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_nounf.collection_id is not null then
    perform webhooks.count_collection_child(r_nounf.org_id, r_nounf.collection_id,
      r_nounf.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_nopk(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_nopk.org_id, r_nopk.render_id,
      r_nopk.kind, r_nopk.status, r_nopk.template_id,
      r_nopk.result_url, r_nopk.duration_ms, r_nopk.webhook_url,
      r_nopk.collection_id, r_nopk.error) then
    perform webhooks.explain_render_arguments(r_nopk.org_id, r_nopk.render_id,
      r_nopk.kind, r_nopk.status, r_nopk.template_id,
      r_nopk.result_url, r_nopk.duration_ms, r_nopk.webhook_url,
      r_nopk.collection_id, r_nopk.error);
  end if;

  if r_nopk.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_nopk (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_nopk.org_id,
    r_nopk.kind || '.' || r_nopk.status,
    r_nopk.render_id, r_nopk.webhook_url,
    case when r_nopk.status = 'completed' then
      json_build_object('id', r_nopk.render_id, 'status', 'completed',
        'result_url', r_nopk.result_url, 'template_id', r_nopk.template_id,
        'duration_ms', r_nopk.duration_ms)
    when r_nopk.error is null then
      json_build_object('id', r_nopk.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nopk.template_id,
        'duration_ms', r_nopk.duration_ms)
    else
      json_build_object('id', r_nopk.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_nopk.template_id,
        'duration_ms', r_nopk.duration_ms,
        'error', json_build_object('code', r_nopk.error ->> 'code',
                                   'message', r_nopk.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_nopk.collection_id is not null then
    perform webhooks.count_collection_child(r_nopk.org_id, r_nopk.collection_id,
      r_nopk.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
CREATE FUNCTION webhooks.r_noconf(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.render_arguments_valid(r_noconf.org_id, r_noconf.render_id,
      r_noconf.kind, r_noconf.status, r_noconf.template_id,
      r_noconf.result_url, r_noconf.duration_ms, r_noconf.webhook_url,
      r_noconf.collection_id, r_noconf.error) then
    perform webhooks.explain_render_arguments(r_noconf.org_id, r_noconf.render_id,
      r_noconf.kind, r_noconf.status, r_noconf.template_id,
      r_noconf.result_url, r_noconf.duration_ms, r_noconf.webhook_url,
      r_noconf.collection_id, r_noconf.error);
  end if;

  if r_noconf.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id('evt');
  insert into webhooks.ev_full (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_noconf.org_id,
    r_noconf.kind || '.' || r_noconf.status,
    r_noconf.render_id, r_noconf.webhook_url,
    case when r_noconf.status = 'completed' then
      json_build_object('id', r_noconf.render_id, 'status', 'completed',
        'result_url', r_noconf.result_url, 'template_id', r_noconf.template_id,
        'duration_ms', r_noconf.duration_ms)
    when r_noconf.error is null then
      json_build_object('id', r_noconf.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_noconf.template_id,
        'duration_ms', r_noconf.duration_ms)
    else
      json_build_object('id', r_noconf.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_noconf.template_id,
        'duration_ms', r_noconf.duration_ms,
        'error', json_build_object('code', r_noconf.error ->> 'code',
                                   'message', r_noconf.error ->> 'message'))
    end,
    date_trunc('second', now()))
;
  if not found then
    return null;
  end if;

  if r_noconf.collection_id is not null then
    perform webhooks.count_collection_child(r_noconf.org_id, r_noconf.collection_id,
      r_noconf.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;