-- A task's children, oldest first.
SELECT task_uuid, parent_step_uuid, state, created_at
FROM tasker_tasks
WHERE parent_task_uuid = ?1
ORDER BY created_at, task_uuid
