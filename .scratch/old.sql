create function webhooks.new_id_old(prefix text) returns text
language plpgsql volatile parallel safe as $$
begin
  return prefix || '_'
    || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
    || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0')
    || lpad(to_hex((random() * 134217728)::bigint), 7, '0');
end $$;
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
CREATE FUNCTION webhooks.r_old(org_id text, render_id text, kind text, status text, template_id text DEFAULT NULL::text, result_url text DEFAULT NULL::text, duration_ms integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, collection_id text DEFAULT NULL::text, error jsonb DEFAULT NULL::jsonb)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
declare
  event_id text;
begin
  if not webhooks.v0(r_old.org_id, r_old.render_id,
      r_old.kind, r_old.status, r_old.template_id,
      r_old.result_url, r_old.duration_ms, r_old.webhook_url,
      r_old.collection_id, r_old.error) then
    perform webhooks.explain_render_arguments(r_old.org_id, r_old.render_id,
      r_old.kind, r_old.status, r_old.template_id,
      r_old.result_url, r_old.duration_ms, r_old.webhook_url,
      r_old.collection_id, r_old.error);
  end if;

  if r_old.status not in ('completed', 'failed') then
    return null;
  end if;

  -- The first terminal report of a render makes its event; a repeated one meets events_subject.
  event_id := webhooks.new_id_old('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, r_old.org_id,
    r_old.kind || '.' || r_old.status,
    r_old.render_id, r_old.webhook_url,
    case when r_old.status = 'completed' then
      json_build_object('id', r_old.render_id, 'status', 'completed',
        'result_url', r_old.result_url, 'template_id', r_old.template_id,
        'duration_ms', r_old.duration_ms)
    when r_old.error is null then
      json_build_object('id', r_old.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_old.template_id,
        'duration_ms', r_old.duration_ms)
    else
      json_build_object('id', r_old.render_id, 'status', 'failed',
        'result_url', null, 'template_id', r_old.template_id,
        'duration_ms', r_old.duration_ms,
        'error', json_build_object('code', r_old.error ->> 'code',
                                   'message', r_old.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    return null;
  end if;

  if r_old.collection_id is not null then
    perform webhooks.count_collection_child(r_old.org_id, r_old.collection_id,
      r_old.status);
  end if;

  if not webhooks.polling_promised() then
    perform webhooks.wake_dispatcher();
  end if;
  return event_id;
end $function$

;
