-- Count one completed step off its dependents. A pending dependent whose count reaches zero
-- becomes enqueued (ready now), or, a signal step, waiting_for_signal with its deadline in
-- ready_at (NULL: no timeout), or, a subtask step, waiting_for_child (its child is created
-- by the child sweep).
UPDATE tasker_steps SET
    pending_deps = pending_deps - 1,
    state = CASE WHEN pending_deps = 1 AND state = 'pending'
        THEN CASE WHEN step_type = 'signal' THEN 'waiting_for_signal'
            WHEN step_type = 'subtask' THEN 'waiting_for_child' ELSE 'enqueued' END
        ELSE state END,
    ready_at = CASE WHEN pending_deps = 1 AND state = 'pending'
        THEN CASE WHEN step_type = 'signal' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + signal_timeout_ms ELSE CAST(unixepoch('subsec') * 1000 AS INTEGER) END
        ELSE ready_at END,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid IN (SELECT to_step FROM tasker_step_edges WHERE from_step = ?1)
RETURNING step_uuid, task_uuid, handler_callable, pending_deps, state, name
