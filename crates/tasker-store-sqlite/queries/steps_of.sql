SELECT step_uuid, name, step_type, state, attempts, max_attempts, result, error, metadata,
    created_at, updated_at
FROM tasker_steps WHERE task_uuid = ?1
ORDER BY created_at, step_uuid
