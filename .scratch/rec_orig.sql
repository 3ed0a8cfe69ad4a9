CREATE OR REPLACE FUNCTION webhooks.record_render_status(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
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
end $function$

