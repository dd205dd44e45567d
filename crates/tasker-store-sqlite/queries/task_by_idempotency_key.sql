SELECT task_uuid FROM tasker_tasks
WHERE namespace = ?1 AND name = ?2 AND version = ?3 AND idempotency_key = ?4
