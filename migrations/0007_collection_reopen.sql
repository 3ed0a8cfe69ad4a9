-- Opening a collection again with another template_id or webhook_url was silently ignored (only
-- a different child_count was refused), so the caller believed its new values were in force.
-- The same call repeated stays harmless; a different one is refused naming the argument.
create or replace function webhooks.open_collection(
  org_id text,
  collection_id text,
  child_count integer,
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
  end if;
  perform webhooks.check_url('webhook_url', open_collection.webhook_url);

  insert into webhooks.collections (org_id, id, template_id, webhook_url, child_count)
  values (open_collection.org_id, open_collection.collection_id, open_collection.template_id,
          open_collection.webhook_url, open_collection.child_count)
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
