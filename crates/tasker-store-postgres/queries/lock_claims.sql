-- Lock the steps still in progress under these claims, with their tasks. Locks are taken row
-- by row in (task, step) uuid order (the task of each row before its step: `OF t, s`), the
-- order every transaction that locks both follows. NO KEY UPDATE: foreign-key checks of
-- concurrent inserts (KEY SHARE) do not wait for it.
SELECT s.step_uuid, s.claim_id, s.task_uuid, s.name, s.template_step_name, s.step_type,
    s.attempts, s.max_attempts, t.state, t.completed_steps, t.total_steps, t.template_digest
FROM unnest($1::uuid[], $2::uuid[]) AS c (step_uuid, claim_id)
JOIN steps s ON s.step_uuid = c.step_uuid AND s.claim_id = c.claim_id
    AND s.state = 'in_progress'
JOIN tasks t ON t.task_uuid = s.task_uuid
ORDER BY t.task_uuid, s.step_uuid
FOR NO KEY UPDATE OF t, s
