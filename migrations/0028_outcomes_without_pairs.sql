-- The outcome write joins no two of its own lists: its cost grows with its batch, not with the
-- square of it.
--
-- Within record_outcomes' statement, the settle joined the outcomes that hold their lease with
-- the queue rows it deleted, the destinations' summary joined them with the rows it rescheduled,
-- and the attempt log joined all outcomes with those that hold their lease. With a plan made
-- once (0022) the planner expects about ten rows of each and joins them by nested loop: a batch
-- of 1,000 outcomes compared 999,000 pairs, about 200 ms of a 250 ms statement (a review found
-- it; the settle's join was a nested loop with per-call plans too). Now the outcomes are read
-- once with their queue rows (those whose lease has passed on carry none), the deleted rows
-- bring back what the settle writes, and the first retry is the time the reschedule sets. Same
-- arguments, results and settings; a rolling deploy is fine.

create or replace function webhooks.record_outcomes(
  delivery_ids text[], attempt_nos integer[], replay_nos integer[], org_ids text[], endpoint_ids text[],
  destination_ids bigint[], started_ats timestamptz[], duration_mss integer[], status_codes integer[],
  error_codes text[], error_messages text[], excerpts text[], outcomes text[], statuses text[],
  retry_in_mss bigint[], signals text[], default_cap integer, pauses bigint[]
) returns table (delivery_id text)
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  -- Destinations first, in id order: claims skip them meanwhile, fan-outs and other writers wait
  -- their turn the same way, and the statement below sees everything committed before.
  perform 1 from webhooks.destinations d where d.id = any(destination_ids) order by d.id for update;

  return query
  with given as (
    select * from unnest(delivery_ids, attempt_nos, replay_nos, org_ids, endpoint_ids, destination_ids,
      started_ats, duration_mss, status_codes, error_codes, error_messages, excerpts, outcomes, statuses,
      retry_in_mss, signals)
      as g(delivery_id, attempt_no, replay_no, org_id, endpoint_id, destination_id, started_at, duration_ms,
           status_code, error_code, error_message, excerpt, outcome, status, retry_in_ms, signal)
  ), looked as (
    -- Every outcome, with its delivery's queue row if its attempt still holds the lease; a retry
    -- for an endpoint disabled or deleted meanwhile is dropped now, not when it comes due.
    select g.*, q.delivery_id is not null as held, q.attempts, q.failures, q.replays,
      case when gone then 'dropped' else g.status end as final_status,
      case when gone and g.outcome = 'retrying' then 'dropped' else g.outcome end as final_outcome,
      case when gone then 'endpoint_disabled: ' || coalesce(ep.disabled_reason, 'the endpoint was deleted') end
        as drop_reason,
      case when g.outcome = 'delivered' then null
           else coalesce(case when gone then 'endpoint_disabled: '
                                || coalesce(ep.disabled_reason, 'the endpoint was deleted') end,
                         g.error_code || ': ' || g.error_message, 'HTTP ' || g.status_code) end as error_text
    from given g
    left join webhooks.delivery_queue q on q.delivery_id = g.delivery_id and q.leased and q.attempts = g.attempt_no
    left join webhooks.endpoints ep on ep.id = g.endpoint_id
    cross join lateral (select g.status = 'pending' and ep.id is not null
      and not (ep.enabled and ep.deleted_at is null) as gone) x
  ), owned as (
    select * from looked l where l.held
  ), rescheduled as (
    update webhooks.delivery_queue q
    set leased = false, leased_by = null,
      due_at = now() + o.retry_in_ms * interval '1 millisecond',
      failures = q.failures + (o.final_outcome = 'retrying')::integer,
      last_status_code = o.status_code, last_error = o.error_text
    from owned o
    where q.delivery_id = o.delivery_id and o.final_status = 'pending'
  ), dequeued as (
    -- What the settle writes comes back with each deleted row, so that it needs no join of two
    -- lists (a nested loop over both, whatever their length, in a plan made once).
    delete from webhooks.delivery_queue q using owned o
    where q.delivery_id = o.delivery_id and o.final_status <> 'pending'
    returning q.delivery_id, o.final_status, o.final_outcome, o.attempts, o.failures, o.replays,
      o.status_code, o.error_text
  ), settled as (
    update webhooks.deliveries d
    set status = q.final_status, attempts = q.attempts,
      failures = q.failures + (q.final_outcome = 'dropped')::integer, replays = q.replays,
      last_status_code = q.status_code, last_error = q.error_text,
      delivered_at = case when q.final_status = 'delivered' then now() else d.delivered_at end,
      dropped_at = case when q.final_status = 'dropped' then now() end,
      updated_at = now()
    from dequeued q
    where d.id = q.delivery_id
  ), logged as (
    insert into webhooks.attempts (delivery_id, attempt_no, replay_no, org_id, endpoint_id, started_at,
      duration_ms, status_code, error_code, error_message, response_excerpt, outcome, retry_at)
    select g.delivery_id, g.attempt_no, g.replay_no, g.org_id, g.endpoint_id, g.started_at, g.duration_ms,
      g.status_code, g.error_code, g.error_message, g.excerpt,
      case when g.held then g.final_outcome else g.outcome end,
      case when g.held and g.final_status = 'pending' then now() + g.retry_in_ms * interval '1 millisecond' end
    from looked g
    -- A late result of a delivery that was pruned meanwhile is not written. FOR KEY SHARE waits
    -- for a prune deleting it, then finds it gone; unlike FOR SHARE it does not wait for another
    -- batch's update of it.
    where g.held
      or exists (select 1 from webhooks.deliveries d where d.id = g.delivery_id for key share)
    on conflict (delivery_id, attempt_no) do update
      set started_at = excluded.started_at, duration_ms = excluded.duration_ms,
        status_code = excluded.status_code, error_code = excluded.error_code,
        error_message = excluded.error_message, response_excerpt = excluded.response_excerpt,
        outcome = excluded.outcome, retry_at = excluded.retry_at
      where webhooks.attempts.outcome = 'lost'
  ), observed as (
    select o.destination_id,
      count(*) filter (where o.signal = 'answered')::integer as answered,
      bool_or(o.signal = 'unreachable') as unreachable,
      count(*)::integer as freed,
      -- When the first of its retries comes due: rescheduled sets each to this.
      min(now() + o.retry_in_ms * interval '1 millisecond') filter (where o.final_status = 'pending')
        as first_retry,
      (array_agg(o.error_text order by o.started_at desc) filter (where o.error_text is not null))[1] as last_error
    from owned o
    group by o.destination_id
  ), judged as (
    select d.id,
      case when ob.answered > 0 then least(d.send_window + ob.answered,
             greatest(coalesce(ep.max_in_flight, default_cap), 1))
           when ob.unreachable and not coalesce(d.backoff_until > now(), false) then 1
           else d.send_window end as send_window,
      case when ob.answered > 0 then 0
           when ob.unreachable and not coalesce(d.backoff_until > now(), false) then d.failure_streak + 1
           else d.failure_streak end as failure_streak,
      case when ob.answered > 0 then null
           when ob.unreachable then coalesce(d.backoff_since, now())
           else d.backoff_since end as backoff_since,
      case when ob.answered > 0 then null
           when ob.unreachable and not coalesce(d.backoff_until > now(), false)
             then now() + pauses[least(d.failure_streak + 1, cardinality(pauses))] * interval '1 millisecond'
           else d.backoff_until end as backoff_until,
      ob.first_retry, ob.last_error, d.saturated
    from observed ob
    join webhooks.destinations d on d.id = ob.destination_id
    left join webhooks.endpoints ep on ep.id = d.endpoint_id
  ), touched as (
    update webhooks.destinations d
    set send_window = j.send_window, failure_streak = j.failure_streak,
      backoff_since = j.backoff_since, backoff_until = j.backoff_until,
      last_error = coalesce(j.last_error, d.last_error),
      last_error_at = case when j.last_error is not null then now() else d.last_error_at end,
      saturated = false,
      ready_at = case
        when j.backoff_until > now() then j.backoff_until
        -- A slot freed up: a full window may take its next delivery now.
        when d.saturated then now()
        else least(d.ready_at, j.first_retry)
      end
    from judged j
    where d.id = j.id
      -- A healthy destination at its full window that only got answers has nothing to change.
      and ((j.send_window, j.failure_streak, j.backoff_since, j.backoff_until, j.saturated)
             is distinct from (d.send_window, d.failure_streak, d.backoff_since, d.backoff_until, false)
           or j.first_retry is not null or j.last_error is not null)
  )
  select o.delivery_id from owned o where o.drop_reason is not null;
end $$;
