UPDATE tasker_tasks SET state = ?2, updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER),
    completed_at = CASE WHEN ?2 IN ('complete', 'error', 'cancelled') THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) ELSE completed_at END
WHERE task_uuid = ?1 AND (?3 IS NULL OR state = ?3)
