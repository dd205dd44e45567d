-- An `enqueued` step is claimable ?12 ms from now (0: at once), a `waiting_for_child` step
-- gets its child then; a `waiting_for_signal` step's
-- deadline is ?14 ms from now (NULL: none). A step has its task's priority (the task is
-- inserted first). A limited step carries its limit key and settings (?15..?18).
INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, inputs,
    created_at, updated_at, created_by, signal_timeout_ms, priority, limit_key, limit_concurrency,
    limit_per_second, limit_burst)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10,
    CASE WHEN ?7 = 'enqueued' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?12
        WHEN ?7 = 'waiting_for_child' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?12
        WHEN ?7 = 'waiting_for_signal' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?14 END,
    ?11, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER), ?13, ?14,
    (SELECT t.priority FROM tasker_tasks t WHERE t.task_uuid = ?2), ?15, ?16, ?17, ?18)
