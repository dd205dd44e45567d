-- The step ?2 started the child task ?1: that is one more attempt.
UPDATE tasker_steps SET child_task_uuid = ?1, attempts = attempts + 1,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?2
