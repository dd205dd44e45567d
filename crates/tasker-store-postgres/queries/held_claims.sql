SELECT s.step_uuid, s.claim_id, s.task_uuid, t.state
FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS c (step_uuid, claim_id, ord)
JOIN steps s ON s.step_uuid = c.step_uuid AND s.claim_id = c.claim_id AND s.state = 'in_progress'
JOIN tasks t ON t.task_uuid = s.task_uuid
ORDER BY c.ord
