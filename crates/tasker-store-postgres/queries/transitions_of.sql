SELECT t.step_uuid, s.name, t.from_state, t.to_state, t.at, t.worker_id, t.reason
FROM transitions t LEFT JOIN steps s ON s.step_uuid = t.step_uuid
WHERE t.task_uuid = $1
ORDER BY t.transition_id
