SELECT MIN(ready_at) - CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM tasker_steps
WHERE state IN ('enqueued', 'waiting_for_retry')
  AND handler_callable IN (SELECT value FROM json_each(?1))
