-- The claim is planned for each call, as 0025 meant it to be.
--
-- 0025 reset the claim's plan_cache_mode, which leaves it on PostgreSQL's default: five custom
-- plans, then the generic plan for the rest of the connection whenever the planner judges it no
-- dearer, which is the once-per-connection plan 0025 set out to leave (a review showed the switch
-- at the sixth call). force_custom_plan plans every call with its arguments. A setting only: a
-- rolling deploy is fine.

alter function webhooks.claim_deliveries(integer, integer, integer, text, bigint[], bigint[], integer)
  set plan_cache_mode = force_custom_plan;
