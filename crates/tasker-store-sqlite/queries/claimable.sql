SELECT step_uuid, state FROM tasker_steps
WHERE state IN ('enqueued', 'waiting_for_retry') AND ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
  AND handler_callable IN (SELECT value FROM json_each(?1))
ORDER BY ready_at
LIMIT ?2
