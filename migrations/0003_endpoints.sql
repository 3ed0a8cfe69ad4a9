-- Org-level endpoints: the registration rules, kept in SQL so every caller gets them.

-- Every event type the recorder emits (record_render_status, count_collection_child).
create function webhooks.event_types() returns text[]
language sql immutable parallel safe as $$
  select array['image.completed', 'image.failed', 'video.completed', 'video.failed', 'collection.completed']
$$;

-- An endpoint's subscriptions: null (every type), or a non-empty list whose entries are known
-- types ('image.completed') or a family of them ('video.*'). A typo would otherwise subscribe
-- an endpoint to nothing, silently.
create function webhooks.check_event_types(argument text, patterns text[]) returns void
language plpgsql immutable as $$
declare
  pattern text;
  families text[] := array(select distinct split_part(t, '.', 1) || '.*' from unnest(webhooks.event_types()) t);
begin
  if patterns is null then
    return;
  elsif cardinality(patterns) = 0 then
    perform webhooks.invalid(argument, 'must list at least one event type (leave it out to receive every type)');
  end if;
  foreach pattern in array patterns loop
    if pattern is null or not (pattern = any(webhooks.event_types()) or pattern = any(families)) then
      perform webhooks.invalid(argument, format('has unknown event type %s; known: %s, or a family such as video.*',
        coalesce(quote_literal(left(pattern, 60)), 'null'), array_to_string(webhooks.event_types(), ', ')));
    end if;
  end loop;
end $$;

-- Registers an endpoint and returns its id (ep_…). `secret` is stored as given (sealed by the
-- application). Bad arguments raise 22023 naming the argument.
create function webhooks.create_endpoint(
  org_id text,
  url text,
  secret text,
  event_types text[] default null,
  description text default null
) returns text
language plpgsql as $$
declare
  endpoint_id text := webhooks.new_id('ep');
begin
  perform webhooks.check_id('org_id', create_endpoint.org_id);
  if create_endpoint.url is null then
    perform webhooks.invalid('url', 'is required');
  end if;
  perform webhooks.check_url('url', create_endpoint.url);
  perform webhooks.check_event_types('event_types', create_endpoint.event_types);
  if create_endpoint.secret is null or create_endpoint.secret = '' then
    perform webhooks.invalid('secret', 'is required');
  end if;
  if length(create_endpoint.description) > 500 then
    perform webhooks.invalid('description', format('is %s characters long; the limit is 500',
      length(create_endpoint.description)));
  end if;
  insert into webhooks.endpoints (id, org_id, url, description, event_types, secret)
  values (endpoint_id, create_endpoint.org_id, create_endpoint.url, create_endpoint.description,
    create_endpoint.event_types, create_endpoint.secret);
  return endpoint_id;
end $$;
