SELECT s.step_uuid, s.name, s.step_type, s.state, s.attempts, s.max_attempts, s.result, s.error,
    s.metadata, s.created_at, s.updated_at,
    (SELECT json_group_array(f.name)
        FROM tasker_step_edges e JOIN tasker_steps f ON f.step_uuid = e.from_step
        WHERE e.to_step = s.step_uuid) AS dependencies,
    (SELECT c.name FROM tasker_steps c WHERE c.step_uuid = s.created_by) AS created_by,
    s.priority, s.inputs, s.checkpoint
FROM tasker_steps s WHERE s.task_uuid = ?1
ORDER BY s.created_at, s.step_uuid
