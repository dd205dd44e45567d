SELECT step_uuid, name, step_type, state, attempts, max_attempts, result::text, error::text,
    metadata::text, created_at, updated_at
FROM steps WHERE task_uuid = $1
ORDER BY created_at, step_uuid
