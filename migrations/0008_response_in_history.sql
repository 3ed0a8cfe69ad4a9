-- The excerpt of each answer (its first bytes, as the attempt stored it) was in webhooks.attempts
-- only: operators reading delivery_history or `deliveries show` saw "HTTP 500" but not what the
-- receiver said. The view gains it as its last column; earlier columns are unchanged.
create or replace view webhooks.delivery_history as
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
  a.outcome,
  a.response_excerpt
from webhooks.attempts a
join webhooks.deliveries d on d.id = a.delivery_id
join webhooks.events e on e.id = d.event_id;
