-- Reopen the failed or cancelled steps $1 (an operator's retry): attempts start over, the error
-- is cleared, and each is ready now unless a dependency is still pending (a signal step waits
-- for its signal again, with a new deadline; a subtask step starts a new child). Returns each with the
-- state it had.
WITH old AS (
    SELECT step_uuid, state FROM steps
    WHERE step_uuid = ANY($1::uuid[]) AND state IN ('error', 'cancelled')
    ORDER BY task_uuid, step_uuid
    FOR NO KEY UPDATE
)
UPDATE steps s SET
    state = CASE WHEN s.pending_deps > 0 THEN 'pending'
        WHEN s.step_type = 'signal' THEN 'waiting_for_signal'
        WHEN s.step_type = 'subtask' THEN 'waiting_for_child' ELSE 'enqueued' END,
    child_task_uuid = NULL,
    attempts = 0,
    error = NULL,
    ready_at = CASE WHEN s.pending_deps > 0 THEN NULL
        WHEN s.step_type = 'signal'
            THEN statement_timestamp() + s.signal_timeout_ms * interval '1 millisecond'
        ELSE statement_timestamp() END,
    claim_id = NULL, claimed_by = NULL, lease_until = NULL,
    updated_at = now()
FROM old
WHERE s.step_uuid = old.step_uuid
RETURNING s.task_uuid, s.step_uuid, old.state, s.state
