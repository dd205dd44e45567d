-- Lifecycle limits (docs/lifecycle.md): a task of a template with a `lifecycle` block keeps its
-- limits, in milliseconds, as they were when it was created (NULL: no such limit). The lifecycle
-- sweep fails an open task past one of them. `updated_at` is when it last made progress (one of
-- its steps completed, or it changed state).
ALTER TABLE tasks ADD COLUMN max_duration_ms bigint;
ALTER TABLE tasks ADD COLUMN max_in_process_ms bigint;
ALTER TABLE tasks ADD COLUMN max_dependencies_ms bigint;
ALTER TABLE tasks ADD COLUMN max_retry_wait_ms bigint;

-- The open tasks with a limit (what the sweep reads).
CREATE INDEX tasks_lifecycle ON tasks (created_at)
    WHERE state IN ('pending', 'steps_in_process', 'waiting_for_retry')
        AND coalesce(max_duration_ms, max_in_process_ms, max_dependencies_ms, max_retry_wait_ms)
            IS NOT NULL;
