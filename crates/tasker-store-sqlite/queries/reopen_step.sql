-- Reopen a failed or cancelled step (an operator's retry): attempts start over, the error is
-- cleared, and it is ready now unless a dependency is still pending.
UPDATE tasker_steps SET
    state = CASE WHEN pending_deps <= 0 THEN 'enqueued' ELSE 'pending' END,
    attempts = 0,
    error = NULL,
    ready_at = CASE WHEN pending_deps <= 0 THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) END,
    claim_id = NULL, claimed_by = NULL, lease_until = NULL,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1 AND state IN ('error', 'cancelled')
RETURNING task_uuid, state
