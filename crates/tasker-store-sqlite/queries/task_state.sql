SELECT state FROM tasker_tasks WHERE task_uuid = ?1
