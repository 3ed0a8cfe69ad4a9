-- The dispatcher's statements find rows by key; under load the planner chose scans that read
-- every dead row version.
--
-- A busy destination's row is updated by every claim and every outcome write (thousands of
-- times a second: its ready_at is indexed, so none of them is HOT), and every delivery adds a
-- lease to delivery_queue_destination and then removes it. Until VACUUM comes, those versions
-- stay: a sequential scan of destinations (the planner's choice for a table its statistics say
-- is a few pages) reads all of them, and a bitmap scan of a destination's leases visits each
-- dead one in the heap on every call (bitmap scans never mark an index entry dead). Draining
-- 150,000 deliveries to one destination, a claim went from about 1 to 6 ms and an outcome
-- write from about 1.5 to 9 ms within 20 seconds, and the drain ran at half its speed. An
-- index scan marks a dead entry the first time and skips it after. The planner cannot see the
-- churn (its statistics are those of the last ANALYZE), so these functions are told; every
-- statement in them has an index for what it looks up. Only function settings change here: a
-- rolling deploy is fine.

alter function webhooks.claim_deliveries(integer, integer, integer, text, bigint[], bigint[], integer)
  set enable_seqscan = off;
alter function webhooks.claim_deliveries(integer, integer, integer, text, bigint[], bigint[], integer)
  set enable_bitmapscan = off;

alter function webhooks.record_outcomes(text[], integer[], integer[], text[], text[], bigint[],
    timestamptz[], integer[], integer[], text[], text[], text[], text[], text[], bigint[], text[], integer,
    bigint[])
  set enable_seqscan = off;
alter function webhooks.record_outcomes(text[], integer[], integer[], text[], text[], bigint[],
    timestamptz[], integer[], integer[], text[], text[], text[], text[], text[], bigint[], text[], integer,
    bigint[])
  set enable_bitmapscan = off;

alter function webhooks.fan_out(integer, text[]) set enable_seqscan = off;
alter function webhooks.fan_out(integer, text[]) set enable_bitmapscan = off;
