-- Open tasks that may be past a lifecycle limit (docs/lifecycle.md), oldest first, at most ?2:
-- the task ?1, or any when ?1 is NULL. A coarse filter: the engine decides which limit, if any,
-- each has passed. Ages in ms: since the task started (its creation, or the last time an
-- operator retried it out of `error`), and since it last made progress; `busy`: one of its steps
-- is ready or running. The filter uses the creation time: a retried task is a candidate that
-- the engine finds is not yet past its limit.
SELECT task_uuid, state,
    now - coalesce((SELECT max(tr.at) FROM tasker_transitions tr WHERE tr.task_uuid = t.task_uuid
        AND tr.step_uuid IS NULL AND tr.from_state = 'error'), created_at),
    now - updated_at,
    EXISTS (SELECT 1 FROM tasker_steps s
        WHERE s.task_uuid = t.task_uuid AND s.state IN ('enqueued', 'in_progress')),
    max_duration_ms, max_in_process_ms, max_dependencies_ms, max_retry_wait_ms
FROM tasker_tasks t, (SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER) AS now)
WHERE state IN ('pending', 'steps_in_process', 'waiting_for_retry')
    AND coalesce(max_duration_ms, max_in_process_ms, max_dependencies_ms, max_retry_wait_ms)
        IS NOT NULL
    AND (?1 IS NULL OR task_uuid = ?1)
    AND (created_at + max_duration_ms < now
        OR updated_at + min(coalesce(max_in_process_ms, 9e18), coalesce(max_dependencies_ms, 9e18),
            coalesce(max_retry_wait_ms, 9e18)) < now)
ORDER BY created_at, task_uuid
LIMIT ?2
