SELECT step_uuid, state FROM tasker_steps
WHERE task_uuid = ?1 AND state IN (SELECT value FROM json_each(?2))
