-- Open tasks that may be past a lifecycle limit (docs/lifecycle.md), oldest first, at most $2:
-- the task $1, or any when $1 is NULL. A coarse filter: the engine decides which limit, if any,
-- each has passed. Ages in ms: since the task started (its creation, or the last time an
-- operator retried it out of `error`), and since it last made progress; `busy`: one of its steps
-- is ready or running. The filter uses the creation time: a retried task is a candidate that
-- the engine finds is not yet past its limit.
SELECT t.task_uuid, t.state,
    (EXTRACT(EPOCH FROM statement_timestamp() - coalesce(
        (SELECT max(tr.at) FROM transitions tr WHERE tr.task_uuid = t.task_uuid
            AND tr.step_uuid IS NULL AND tr.from_state = 'error'),
        t.created_at)) * 1000)::int8 AS age_ms,
    (EXTRACT(EPOCH FROM statement_timestamp() - t.updated_at) * 1000)::int8 AS idle_ms,
    EXISTS (SELECT 1 FROM steps s
        WHERE s.task_uuid = t.task_uuid AND s.state IN ('enqueued', 'in_progress')) AS busy,
    t.max_duration_ms, t.max_in_process_ms, t.max_dependencies_ms, t.max_retry_wait_ms
FROM tasks t
WHERE t.state IN ('pending', 'steps_in_process', 'waiting_for_retry')
    AND coalesce(t.max_duration_ms, t.max_in_process_ms, t.max_dependencies_ms,
        t.max_retry_wait_ms) IS NOT NULL
    AND ($1::uuid IS NULL OR t.task_uuid = $1)
    AND (t.created_at + make_interval(secs => t.max_duration_ms / 1000.0) < statement_timestamp()
        OR t.updated_at + make_interval(secs => least(t.max_in_process_ms, t.max_dependencies_ms,
            t.max_retry_wait_ms) / 1000.0) < statement_timestamp())
ORDER BY t.created_at, t.task_uuid
LIMIT $2
