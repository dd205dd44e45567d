UPDATE tasker_tasks SET state = ?2, updated_at = ?4,
    completed_at = CASE WHEN ?2 IN ('complete', 'error', 'cancelled') THEN ?4 END
WHERE task_uuid = ?1 AND (?3 IS NULL OR state = ?3)
