-- Every input checked at the edge (issue 13): what an adversarial pass found accepted.
--
-- URLs. A host could be any run of RFC 3986's name characters ('https://./x', 'https://a..b/x',
-- 'https://-/x', 'https://_/x', 'https://*.example.com/', 'https://exa''mple.com/',
-- 'https://a,b.com/', 'https://example.com../x'), the port could be 0 ('http://127.0.0.1:0/'
-- then failed at every attempt), and a backslash was taken in the path, where URL parsers read
-- it as a slash ('https://example.com/\x' is sent to '//x'). Now a name is dot-separated labels
-- of letters, digits and inner hyphens (so 'xn--' labels pass), with no trailing dot (one
-- spelling per host: 'example.com.' would be another destination, and TLS libraries disagree on
-- it); a port is 1-65535 without leading zeros; no backslash anywhere. IP literals as before.
--
-- Recording. duration_ms and child_count were integers, so 2147483648 or 1.5 failed before the
-- function ran (42883, 22003), naming no argument: they are now double precision, which every
-- numeric argument converts to implicitly (an integer one as before), checked inside and named.
-- A render reported again with another kind, or with a collection_id no collection has, and a
-- non-terminal report with such a collection_id, returned null: now refused naming the argument.
-- An empty error ('{}', or an empty code or message), an empty result_url or one with control
-- characters, a result_url on a failed render and an error on a completed one were stored or
-- silently dropped: now refused naming the argument. (A non-terminal report records nothing,
-- whatever it carries; its arguments are checked for their form only.)

create or replace function webhooks.url_ok(url text) returns boolean
language sql immutable parallel unsafe as $$
  select url ~ '^[Hh][Tt][Tt][Pp][Ss]?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:(|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?][^\s#\\]*)?$'
    -- A host whose last label is a number is read as an IPv4 address: it must be one.
    and (url !~ '^[A-Za-z]+://([^/?#:]*\.)?(0[Xx][0-9A-Fa-f]*|[0-9]+)\.?(:[0-9]*)?([/?]|$)'
         or url ~ '^[A-Za-z]+://((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.?(:[0-9]*)?([/?]|$)')
    and (substr(url, position('://' in url) + 3, 1) <> '['
         or webhooks.ipv6_literal_ok(substring(url from '^[A-Za-z]+://\[([^]/?#]*)\]')))
$$;

create or replace function webhooks.check_url(argument text, value text) returns void
language plpgsql immutable as $$
begin
  if value is null then
    return;
  elsif length(value) > 2048 then
    perform webhooks.invalid(argument, format('is %s characters long; the limit is 2048', length(value)));
  elsif value !~* '^https?://[^/?#\s]+([/?][^\s#]*)?$' then
    perform webhooks.invalid(argument, format('must be an absolute http(s) URL without spaces or fragment, got %L', left(value, 100)));
  elsif substring(value from '^[A-Za-z]+://([^/?#]*)') like '%@%' then
    perform webhooks.invalid(argument, 'must not contain credentials');
  elsif value ~ '[[:cntrl:]]' then
    perform webhooks.invalid(argument, 'must not contain control characters');
  elsif position('\' in value) > 0 then
    perform webhooks.invalid(argument, 'must not contain a backslash (URL parsers read it as a slash)');
  elsif not webhooks.url_ok(value) then
    perform webhooks.invalid(argument, format('has no valid host and port (a name of dot-separated labels of letters, digits and inner hyphens, without a trailing dot; a dotted IPv4 address; or a bracketed IPv6 one; then an optional port from 1 to 65535), got %L', left(value, 100)));
  end if;
end $$;

-- The quick check and the detailed one change type and rules together; record_render_status and
-- open_collection change the type of one argument, so each is made anew (a call by name or by
-- position, with an integer or a numeric, resolves to the new one; privileges granted on the old
-- ones by their signature must be granted again).
drop function webhooks.record_render_status(text, text, text, text, text, text, integer, text, text, jsonb);
drop function webhooks.render_arguments_valid(text, text, text, text, text, text, integer, text, text, jsonb);
drop function webhooks.explain_render_arguments(text, text, text, text, text, text, integer, text, text, jsonb);
drop function webhooks.open_collection(text, text, integer, text, text);

-- Are these arguments valid? The rules of explain_render_arguments as one SQL expression,
-- inlined into record_render_status's IF. Parallel unsafe, as url_ok is.
create function webhooks.render_arguments_valid(
  org_id text, render_id text, kind text, status text, template_id text, result_url text,
  duration_ms double precision, webhook_url text, collection_id text, error jsonb
) returns boolean
language sql immutable parallel unsafe as $$
  select coalesce(
    length(org_id) <= 200 and org_id ~ '^[A-Za-z0-9_.:-]+$'
    and length(render_id) <= 200 and render_id ~ '^[A-Za-z0-9_.:-]+$'
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200 and template_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (collection_id is null or (length(collection_id) <= 200 and collection_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (duration_ms is null
         or (duration_ms >= 0 and duration_ms <= 2147483647 and duration_ms = trunc(duration_ms)))
    and (webhook_url is null or (length(webhook_url) <= 2048 and webhooks.url_ok(webhook_url)
         and webhook_url !~ '[[:cntrl:]]'))
    and (result_url is null or (length(result_url) <= 4096 and result_url <> ''
         and result_url !~ '[[:cntrl:]]' and status <> 'failed'))
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096
         and error <> '{}'::jsonb and not error @> '{"code": ""}' and not error @> '{"message": ""}'
         and status <> 'completed')),
    false)
$$;

-- The slow path: raises 22023 naming the first bad argument.
create function webhooks.explain_render_arguments(
  org_id text, render_id text, kind text, status text, template_id text, result_url text,
  duration_ms double precision, webhook_url text, collection_id text, error jsonb
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
  elsif not (duration_ms <= 2147483647 and duration_ms = trunc(duration_ms)) then
    perform webhooks.invalid('duration_ms', format('must be a whole number of milliseconds up to 2147483647, got %s',
      duration_ms));
  end if;
  perform webhooks.check_url('webhook_url', webhook_url);
  if result_url is null then
    null;
  elsif length(result_url) > 4096 then
    perform webhooks.invalid('result_url', format('is %s characters long; the limit is 4096', length(result_url)));
  elsif result_url = '' then
    perform webhooks.invalid('result_url', 'is empty (pass null when there is none)');
  elsif result_url ~ '[[:cntrl:]]' then
    perform webhooks.invalid('result_url', 'must not contain control characters');
  elsif status = 'failed' then
    perform webhooks.invalid('result_url', 'is for a completed render, not a failed one (pass null)');
  end if;
  if error is null then
    null;
  elsif jsonb_typeof(error) <> 'object'
     or exists (select 1 from jsonb_object_keys(error) k where k not in ('code', 'message'))
     or coalesce(jsonb_typeof(error -> 'code'), 'string') <> 'string'
     or coalesce(jsonb_typeof(error -> 'message'), 'string') <> 'string' then
    perform webhooks.invalid('error', 'must be a JSON object {code, message} of strings');
  elsif length(error::text) > 4096 then
    perform webhooks.invalid('error', 'is longer than 4096 characters');
  elsif error = '{}'::jsonb or error @> '{"code": ""}' or error @> '{"message": ""}' then
    perform webhooks.invalid('error', 'must give a code, a message or both, none of them empty (pass null when there is no error)');
  elsif status = 'completed' then
    perform webhooks.invalid('error', 'is for a failed render, not a completed one (pass null)');
  end if;
  -- Reached only if the two rule sets disagree: refuse rather than record unchecked input.
  raise exception using errcode = 'XX000',
    message = 'record_render_status: arguments failed the quick check but no rule names them';
end $$;

-- A collection_id must name a collection of the org, opened before its children report.
create function webhooks.check_collection_known(org_id text, collection_id text) returns void
language plpgsql as $$
begin
  if not exists (select 1 from webhooks.collections c
                 where c.org_id = check_collection_known.org_id and c.id = check_collection_known.collection_id) then
    perform webhooks.invalid('collection_id', format('%s is not an open collection of org %s (call webhooks.open_collection first)',
      collection_id, org_id));
  end if;
end $$;

-- A terminal status reported again makes no event, but must still be about the same render: the
-- kind its event was recorded with, and a collection that exists. Only repeats pay for this.
create function webhooks.check_reported_again(org_id text, render_id text, kind text, collection_id text)
returns void
language plpgsql as $$
declare
  first_kind text;
begin
  select split_part(e.type, '.', 1) into first_kind from webhooks.events e
  where e.org_id = check_reported_again.org_id and e.subject_id = check_reported_again.render_id
    and e.type <> 'collection.completed';
  if first_kind <> check_reported_again.kind then
    perform webhooks.invalid('kind', format('%L differs from %L, reported first for render %s',
      check_reported_again.kind, first_kind, check_reported_again.render_id));
  end if;
  if check_reported_again.collection_id is not null then
    perform webhooks.check_collection_known(check_reported_again.org_id, check_reported_again.collection_id);
  end if;
end $$;

create function webhooks.record_render_status(
  org_id text,
  render_id text,
  kind text,
  status text,
  template_id text default null,
  result_url text default null,
  duration_ms double precision default null,
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
    if record_render_status.collection_id is not null then
      perform webhooks.check_collection_known(record_render_status.org_id, record_render_status.collection_id);
    end if;
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
        'duration_ms', record_render_status.duration_ms::integer)
    when record_render_status.error is null then
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms::integer)
    else
      json_build_object('id', record_render_status.render_id, 'status', 'failed',
        'result_url', null, 'template_id', record_render_status.template_id,
        'duration_ms', record_render_status.duration_ms::integer,
        'error', json_build_object('code', record_render_status.error ->> 'code',
                                   'message', record_render_status.error ->> 'message'))
    end,
    date_trunc('second', now()))
  on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing;
  if not found then
    perform webhooks.check_reported_again(record_render_status.org_id, record_render_status.render_id,
      record_render_status.kind, record_render_status.collection_id);
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

-- As 0007's, with child_count double precision: a count too large for an integer, or not whole,
-- is refused naming it.
create function webhooks.open_collection(
  org_id text,
  collection_id text,
  child_count double precision,
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
  elsif open_collection.child_count <> trunc(open_collection.child_count) then
    perform webhooks.invalid('child_count', format('must be a whole number, got %s', open_collection.child_count));
  end if;
  perform webhooks.check_url('webhook_url', open_collection.webhook_url);

  insert into webhooks.collections (org_id, id, template_id, webhook_url, child_count)
  values (open_collection.org_id, open_collection.collection_id, open_collection.template_id,
          open_collection.webhook_url, open_collection.child_count::integer)
  on conflict do nothing;
  if found then
    return;
  end if;
  -- Opening the same collection again is harmless; opening it with other values is a bug.
  select * into existing from webhooks.collections c
  where c.org_id = open_collection.org_id and c.id = open_collection.collection_id;
  if existing.child_count <> open_collection.child_count then
    perform webhooks.invalid('child_count', format('%s differs from %s, given when collection %s was opened',
      open_collection.child_count, existing.child_count, open_collection.collection_id));
  elsif existing.template_id is distinct from open_collection.template_id then
    perform webhooks.invalid('template_id', format('%s differs from %s, given when collection %s was opened',
      coalesce(quote_literal(open_collection.template_id), 'null'), coalesce(quote_literal(existing.template_id), 'null'),
      open_collection.collection_id));
  elsif existing.webhook_url is distinct from open_collection.webhook_url then
    perform webhooks.invalid('webhook_url', format('%s differs from %s, given when collection %s was opened',
      coalesce(quote_literal(left(open_collection.webhook_url, 100)), 'null'),
      coalesce(quote_literal(left(existing.webhook_url, 100)), 'null'), open_collection.collection_id));
  end if;
end $$;
