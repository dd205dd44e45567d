UPDATE tasker_steps SET
    pending_deps = pending_deps - 1,
    state = CASE WHEN pending_deps = 1 AND state = 'pending' THEN 'enqueued' ELSE state END,
    ready_at = CASE WHEN pending_deps = 1 AND state = 'pending' THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) ELSE ready_at END,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid IN (SELECT to_step FROM tasker_step_edges WHERE from_step = ?1)
RETURNING step_uuid, task_uuid, handler_callable, pending_deps, state
