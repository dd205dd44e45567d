SELECT state FROM tasker_steps WHERE step_uuid = ?1
