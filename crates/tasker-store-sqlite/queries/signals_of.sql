SELECT task_uuid, step_name, payload, received_at, applied_at FROM tasker_signals
WHERE task_uuid = ?1 AND step_name = ?2
