SELECT s.task_uuid, s.step_uuid, s.name, s.step_type, s.state
FROM unnest($1::uuid[]) WITH ORDINALITY AS k (task_uuid, ord)
JOIN steps s ON s.task_uuid = k.task_uuid
ORDER BY k.ord, s.created_at, s.step_uuid
