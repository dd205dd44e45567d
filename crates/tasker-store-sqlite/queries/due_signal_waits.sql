-- Signal steps still waiting past their deadline, earliest first, at most ?2: of the task ?1,
-- or of any task when ?1 is NULL.
SELECT s.task_uuid, s.step_uuid, s.name, s.template_step_name, t.template_digest
FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
WHERE s.state = 'waiting_for_signal' AND s.ready_at IS NOT NULL AND s.ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
    AND (?1 IS NULL OR s.task_uuid = ?1)
ORDER BY s.ready_at, s.step_uuid
LIMIT ?2
