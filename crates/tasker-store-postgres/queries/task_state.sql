SELECT state FROM tasks WHERE task_uuid = $1
