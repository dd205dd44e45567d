SELECT s.step_uuid, s.name, s.step_type, s.state, s.attempts, s.max_attempts, s.result::text,
    s.error::text, s.metadata::text, s.created_at, s.updated_at,
    ARRAY(SELECT f.name
        FROM step_edges e JOIN steps f ON f.step_uuid = e.from_step
        WHERE e.to_step = s.step_uuid) AS dependencies,
    (SELECT c.name FROM steps c WHERE c.step_uuid = s.created_by) AS created_by,
    s.priority, s.inputs::text, s.checkpoint::text
FROM steps s WHERE s.task_uuid = $1
ORDER BY s.created_at, s.step_uuid
