UPDATE tasker_signals SET applied_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE task_uuid = ?1 AND step_name = ?2 AND applied_at IS NULL
