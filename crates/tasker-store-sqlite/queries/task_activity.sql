SELECT
    COALESCE(SUM(CASE WHEN state IN ('enqueued', 'in_progress', 'waiting_for_child') THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN state = 'waiting_for_retry' THEN 1 ELSE 0 END), 0),
    MIN(CASE WHEN state = 'waiting_for_retry' THEN ready_at END) - CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM tasker_steps WHERE task_uuid = ?1
