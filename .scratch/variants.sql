create function webhooks.f_noop(org_id text, render_id text, kind text, status text, template_id text default null, result_url text default null, duration_ms integer default null, webhook_url text default null, collection_id text default null, error jsonb default null) returns text language plpgsql as $$ begin return null; end $$;
create function webhooks.f_valid(org_id text, render_id text, kind text, status text, template_id text default null, result_url text default null, duration_ms integer default null, webhook_url text default null, collection_id text default null, error jsonb default null) returns text language plpgsql as $$
begin
  if not webhooks.render_arguments_valid(org_id, render_id, kind, status, template_id, result_url, duration_ms, webhook_url, collection_id, error) then
    raise exception 'bad';
  end if;
  return null;
end $$;
create function webhooks.f_ins(org_id text, render_id text, kind text, status text, template_id text default null, result_url text default null, duration_ms integer default null, webhook_url text default null, collection_id text default null, error jsonb default null) returns text language plpgsql as $$
#variable_conflict use_column
declare event_id text;
begin
  event_id := webhooks.new_id('evt');
  insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at)
  values (event_id, f_ins.org_id, f_ins.kind || '.' || f_ins.status, f_ins.render_id, f_ins.webhook_url,
    json_build_object('id', f_ins.render_id, 'status', 'completed', 'result_url', f_ins.result_url, 'template_id', f_ins.template_id, 'duration_ms', f_ins.duration_ms),
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  return event_id;
end $$;
