SELECT step_uuid, task_uuid, claim_id, claimed_by, attempts, max_attempts FROM steps
WHERE state = 'in_progress' AND lease_until < statement_timestamp()
ORDER BY lease_until
LIMIT $1
