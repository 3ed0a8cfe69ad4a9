-- What is set aside for an operator can be counted, by the backlog's one query (the
-- imtegrate_webhooks_*_set_aside gauges, docs/operations.md), without walking the history.
--
-- A destination whose claim kept failing on its data was set aside by moving its ready_at, like
-- any destination waiting for its turn: nothing told the two apart. It now also carries until
-- when it is set aside.
alter table webhooks.destinations add column set_aside_until timestamptz;

-- Events set aside (fan_out_error, see 0013) are few and stay until an operator puts them back;
-- this index keeps counting them proportional to their number. Building it reads the events table
-- once, holding off new events meanwhile (seconds for millions of rows).
create index events_set_aside on webhooks.events (id) where fan_out_error is not null;
