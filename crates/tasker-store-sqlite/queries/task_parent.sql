-- A task's parent task and step (with the step's name), depth and trace context.
SELECT t.parent_task_uuid, t.parent_step_uuid, s.name, t.depth, t.trace_context
FROM tasker_tasks t
LEFT JOIN tasker_steps s ON s.step_uuid = t.parent_step_uuid
WHERE t.task_uuid = ?1
