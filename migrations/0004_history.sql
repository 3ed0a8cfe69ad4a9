-- Delivery history in plain SQL: what operators query (docs/queries.md), and the indexes that
-- keep those queries and the CLI's replay selection fast at millions of attempts.

-- One row per attempt, with its event and destination. org_id and subject_id come from the event
-- (a delivery always has its event's org), so "the history of one render" filters on
-- events (org_id, subject_id) by index; endpoint_id comes from the attempt, so "one endpoint's
-- attempts" uses attempts (endpoint_id, started_at). `replay` is the attempt's replay_no: 0 for
-- the original retry budget, n from the first attempt after the n-th replay, which is where
-- that replay began.
create view webhooks.delivery_history as
select
  a.id as attempt_id,
  a.delivery_id,
  d.event_id,
  e.type as event_type,
  e.subject_id,
  e.org_id,
  d.destination,
  a.endpoint_id,
  d.url,
  a.attempt_no as attempt,
  a.replay_no as replay,
  a.started_at,
  a.duration_ms,
  a.status_code,
  case when a.error_code is not null then a.error_code || coalesce(': ' || a.error_message, '') end as error,
  a.outcome
from webhooks.attempts a
join webhooks.deliveries d on d.id = a.delivery_id
join webhooks.events e on e.id = d.event_id;

-- Deliveries whose last retry failed: nothing more happens to them until someone replays them.
create view webhooks.dropped_deliveries as
select
  d.id as delivery_id,
  d.event_id,
  e.type as event_type,
  e.subject_id,
  d.org_id,
  d.destination,
  d.endpoint_id,
  d.url,
  d.attempts,
  d.replays,
  d.last_status_code,
  d.last_error,
  d.dropped_at
from webhooks.deliveries d
join webhooks.events e on e.id = d.event_id
where d.status = 'dropped';

-- Per endpoint (deleted ones left out), over the last 24 hours of attempts whose outcome is known
-- (rows marked lost, where a worker died mid-attempt, say nothing about the endpoint):
-- attempts, success_rate (0..1, null without attempts), p50/p95 of duration_ms, and, over all
-- time, the failed attempts since the last success and when that success was.
create view webhooks.endpoint_health as
select
  ep.id as endpoint_id,
  ep.org_id,
  ep.url,
  ep.enabled,
  recent.attempts,
  recent.success_rate,
  recent.p50_ms,
  recent.p95_ms,
  failing.consecutive_failures,
  last_success.at as last_success_at
from webhooks.endpoints ep
cross join lateral (
  select
    count(*)::int as attempts,
    (count(*) filter (where a.outcome = 'delivered'))::float8 / nullif(count(*), 0) as success_rate,
    percentile_cont(0.5) within group (order by a.duration_ms) as p50_ms,
    percentile_cont(0.95) within group (order by a.duration_ms) as p95_ms
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.started_at >= now() - interval '24 hours' and a.outcome <> 'lost'
) recent
cross join lateral (
  select max(a.started_at) as at
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.outcome = 'delivered'
) last_success
cross join lateral (
  select count(*)::int as consecutive_failures
  from webhooks.attempts a
  where a.endpoint_id = ep.id and a.outcome in ('retrying', 'dropped')
    and a.started_at > coalesce(last_success.at, '-infinity')
) failing
where ep.deleted_at is null;

-- One endpoint's attempts in time order, covering what endpoint_health aggregates, so its
-- 24-hour statistics and its count of failures since the last success are index-only scans
-- (a dead endpoint can have tens of thousands). It replaces 0001's attempts_endpoint, which
-- had the same key: one index to maintain on the hottest table, not two.
create index attempts_endpoint_outcome on webhooks.attempts (endpoint_id, started_at)
  include (outcome, duration_ms) where endpoint_id is not null;
drop index webhooks.attempts_endpoint;

-- An endpoint's last success in one index probe, however long it has been failing since.
create index attempts_endpoint_delivered on webhooks.attempts (endpoint_id, started_at)
  where outcome = 'delivered' and endpoint_id is not null;

-- Bulk replays walk an endpoint's or an org's dropped deliveries in id order (a keyset cursor);
-- created_at rides along so --since/--until and the progress bar's count need no heap visits.
create index deliveries_endpoint_dropped on webhooks.deliveries (endpoint_id, id) include (created_at)
  where status = 'dropped' and endpoint_id is not null;
create index deliveries_org_dropped on webhooks.deliveries (org_id, id) include (created_at)
  where status = 'dropped';

-- `deliveries list` without an org or endpoint: newest first.
create index deliveries_created on webhooks.deliveries (created_at);
