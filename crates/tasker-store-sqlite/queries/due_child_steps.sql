-- Subtask steps the child sweep acts on, earliest ready time first, at most ?2: of the task ?1,
-- or of any task when ?1 is NULL. Waiting for a child with none yet (its ready time passed: a
-- delayed start), waiting for a child that finished, or waiting out a backoff that is over.
SELECT s.task_uuid, s.step_uuid, s.name, s.template_step_name, t.template_digest, s.state,
    s.attempts, s.max_attempts, s.child_task_uuid, c.state
FROM tasker_steps s
JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
LEFT JOIN tasker_tasks c ON c.task_uuid = s.child_task_uuid
WHERE s.step_type = 'subtask' AND s.state IN ('waiting_for_child', 'waiting_for_retry')
    AND (?1 IS NULL OR s.task_uuid = ?1)
    AND CASE WHEN s.state = 'waiting_for_retry' OR s.child_task_uuid IS NULL
        THEN s.ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
        ELSE c.state IS NULL OR c.state IN ('complete', 'error', 'cancelled') END
ORDER BY s.ready_at, s.step_uuid
LIMIT ?2
