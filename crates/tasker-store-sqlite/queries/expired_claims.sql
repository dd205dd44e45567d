SELECT step_uuid, task_uuid, claim_id, claimed_by, attempts, max_attempts FROM tasker_steps
WHERE state = 'in_progress' AND lease_until < CAST(unixepoch('subsec') * 1000 AS INTEGER)
ORDER BY lease_until
LIMIT ?1
