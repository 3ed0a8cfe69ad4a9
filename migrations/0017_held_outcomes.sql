-- An outcome held aside (webhooks.hold_outcome) no longer costs its destination a lease's length,
-- nor its delivery its attempt count.
--
-- Before, hold_outcome freed the delivery's lease without telling its destination: a destination
-- whose send window was full stayed asleep until the lease would have run out (40 s with the
-- defaults), so the delivery's retry and every other delivery of that destination waited that
-- long. And a delivery it dropped kept the attempts, failures and replays it was made with
-- (zero): the dropped list showed no attempts, and a replay numbered its attempts from 1 again,
-- over attempt rows already written, which were then kept instead of the new ones.
--
-- Now it locks the destination first (as every writer of the queue does), wakes it as
-- record_outcomes does when a slot frees up, and settles a dropped delivery with its queue row's
-- counts.
-- A lease of destination `dest` was freed by hold_outcome (its delivery due again at `due`, or
-- not at all): as in record_outcomes, a destination with a full window may take its next delivery
-- now, one backing off waits for the end of its backoff, any other one for its next due time.
-- The caller holds the destination's row lock.
create function webhooks.wake_held_destination(dest bigint, due timestamptz) returns void
language sql as $$
  update webhooks.destinations d
  set saturated = false,
    ready_at = case
      when d.backoff_until > now() then d.backoff_until
      when d.saturated then now()
      else least(d.ready_at, due)
    end
  where d.id = dest
$$;

create or replace function webhooks.hold_outcome(delivery_id text, attempt_no integer, error text, retry_in_ms bigint)
returns text
language plpgsql as $$
#variable_conflict use_variable
declare
  note text := 'outcome_unrecorded: ' || left(error, 500);
  dest bigint;
  due timestamptz;
  gone record;
begin
  select q.destination_id into dest from webhooks.delivery_queue q
  where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
  if dest is null then
    return 'not_owned';
  end if;
  perform 1 from webhooks.destinations d where d.id = dest for update;

  if retry_in_ms is not null then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = now() + retry_in_ms * interval '1 millisecond',
      failures = q.failures + 1, last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no
    returning q.due_at into due;
    if not found then
      return 'not_owned';
    end if;
    perform webhooks.wake_held_destination(dest, due);
    return 'retrying';
  end if;
  begin
    delete from webhooks.delivery_queue q
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no
    returning q.attempts, q.failures, q.replays into gone;
    if not found then
      return 'not_owned';
    end if;
    update webhooks.deliveries d
    set status = 'dropped', dropped_at = now(), last_error = note, updated_at = now(),
      attempts = gone.attempts, failures = gone.failures + 1, replays = gone.replays
    where d.id = hold_outcome.delivery_id;
    perform webhooks.wake_held_destination(dest, null);
    return 'dropped';
  exception when others then
    update webhooks.delivery_queue q
    set leased = false, leased_by = null, due_at = 'infinity', last_error = note
    where q.delivery_id = hold_outcome.delivery_id and q.leased and q.attempts = hold_outcome.attempt_no;
    if not found then
      return 'not_owned';
    end if;
    perform webhooks.wake_held_destination(dest, null);
    return 'held';
  end;
end $$;
