-- The claim goes back to a plan made for each call (0022 had it planned once per connection).
--
-- The claim's rows come from tables (the ready destinations, each one's waiting deliveries),
-- and the size the planner expects of them depends on the statistics of the moment. With one
-- plan per connection, made whenever the statistics last changed (ANALYZE of delivery_queue runs
-- every 2% of changes), two drains of about 100,000 deliveries to one destination, out of about
-- ten, slowed from about 4,000 to under 100 deliveries a second, each claim taking about 330 ms;
-- the same drains with plans made per call never did. Not reproduced on demand, so not
-- explained; a plan made per call knows how many deliveries it may take, which bounds every join
-- after it. The outcome write and the fan-out keep 0022's single plan: everything they read comes
-- from their array arguments (the planner guesses ten rows whatever the tables hold) and is
-- looked up by key.

alter function webhooks.claim_deliveries(integer, integer, integer, text, bigint[], bigint[], integer)
  reset plan_cache_mode;
