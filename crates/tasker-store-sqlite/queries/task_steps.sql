SELECT step_uuid, name, step_type, state FROM tasker_steps WHERE task_uuid = ?1
