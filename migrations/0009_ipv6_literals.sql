-- 0006's IPv6 check took what PostgreSQL's inet takes, which includes an embedded IPv4 part of
-- fewer than four numbers (::1.2.3, ::.7) or with leading zeros (::01.2.3.4); the worker's URL
-- parser refuses those, so a delivery to one was dropped unsent. A dotted tail must now be four
-- decimal numbers of 0-255 without leading zeros. It is also marked parallel unsafe, no longer
-- safe: its exception block opens a subtransaction, which no process in parallel mode may (not
-- even the leader, so parallel restricted is not enough).
create or replace function webhooks.ipv6_literal_ok(host text) returns boolean
language plpgsql immutable parallel unsafe as $$
begin
  return host is not null and host ~ '^[0-9A-Fa-f:.]+$'
    and (position('.' in host) = 0
         or host ~ ':((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')
    and family(host::inet) = 6 and masklen(host::inet) = 128;
exception when invalid_text_representation then
  return false;
end $$;

-- url_ok and the quick check call it; an SQL function is only as parallel safe as what it calls.
alter function webhooks.url_ok(text) parallel unsafe;
alter function webhooks.render_arguments_valid(text, text, text, text, text, text, integer, text, text, jsonb)
  parallel unsafe;
