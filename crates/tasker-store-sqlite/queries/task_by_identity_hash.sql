SELECT task_uuid FROM tasker_tasks
WHERE namespace = ?1 AND name = ?2 AND version = ?3 AND identity_hash = ?4
