UPDATE tasker_tasks SET completed_steps = completed_steps + ?2, total_steps = total_steps + ?3,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE task_uuid = ?1
