-- Reopen a failed or cancelled step (an operator's retry): attempts start over, the error is
-- cleared, and it is ready now unless a dependency is still pending (a signal step waits for
-- its signal again, with a new deadline; a subtask step starts a new child).
UPDATE tasker_steps SET
    state = CASE WHEN pending_deps > 0 THEN 'pending'
        WHEN step_type = 'signal' THEN 'waiting_for_signal'
        WHEN step_type = 'subtask' THEN 'waiting_for_child' ELSE 'enqueued' END,
    child_task_uuid = NULL,
    attempts = 0,
    error = NULL,
    ready_at = CASE WHEN pending_deps > 0 THEN NULL
        WHEN step_type = 'signal' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + signal_timeout_ms
        ELSE CAST(unixepoch('subsec') * 1000 AS INTEGER) END,
    claim_id = NULL, claimed_by = NULL, lease_until = NULL,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1 AND state IN ('error', 'cancelled')
RETURNING task_uuid, state
