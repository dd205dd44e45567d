-- A task's parent task and step (with the step's name), depth, trace context, and its
-- children (oldest first) as parallel arrays.
SELECT t.parent_task_uuid, t.parent_step_uuid, s.name, t.depth, t.trace_context,
    coalesce(array_agg(c.task_uuid ORDER BY c.created_at, c.task_uuid)
        FILTER (WHERE c.task_uuid IS NOT NULL), '{}'),
    coalesce(array_agg(c.parent_step_uuid ORDER BY c.created_at, c.task_uuid)
        FILTER (WHERE c.task_uuid IS NOT NULL), '{}'),
    coalesce(array_agg(c.state ORDER BY c.created_at, c.task_uuid)
        FILTER (WHERE c.task_uuid IS NOT NULL), '{}'),
    coalesce(array_agg(c.created_at ORDER BY c.created_at, c.task_uuid)
        FILTER (WHERE c.task_uuid IS NOT NULL), '{}')
FROM tasks t
LEFT JOIN steps s ON s.step_uuid = t.parent_step_uuid
LEFT JOIN tasks c ON c.parent_task_uuid = t.task_uuid
WHERE t.task_uuid = $1
GROUP BY t.task_uuid, s.name
