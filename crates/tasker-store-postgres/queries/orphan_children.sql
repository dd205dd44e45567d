-- Unfinished child tasks whose parent step no longer waits for them, at most $1.
SELECT c.task_uuid
FROM tasks c
LEFT JOIN steps s ON s.step_uuid = c.parent_step_uuid
WHERE c.parent_step_uuid IS NOT NULL AND c.state NOT IN ('complete', 'error', 'cancelled')
    AND (s.step_uuid IS NULL OR s.state <> 'waiting_for_child'
        OR s.child_task_uuid IS DISTINCT FROM c.task_uuid)
ORDER BY c.task_uuid
LIMIT $1
