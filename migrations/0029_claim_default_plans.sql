-- The claim is left to PostgreSQL's own choice of plan, as before 0022.
--
-- 0027 had it planned for every call. Planning its large statement with each call's values
-- costs several milliseconds a call: in alternated drains of 8,000 deliveries (10 endpoints;
-- 1,000 render-URL destinations) the claim's time per delivery went from 92-136 to 282-348 us and
-- the drains ran 10-35% slower. PostgreSQL's default makes five plans with the values and then
-- keeps the generic plan for the connection when it judges it no dearer; every run before 0022,
-- the long drains included, ran that way, and the slow drains of 0022 (see 0025) came with the
-- generic plan forced from the first call. A setting only: a rolling deploy is fine.

alter function webhooks.claim_deliveries(integer, integer, integer, text, bigint[], bigint[], integer)
  reset plan_cache_mode;
