SELECT task_uuid, namespace, name, version, state, context::text, idempotency_key, total_steps,
    completed_steps, created_at, updated_at, completed_at, priority
FROM tasks WHERE task_uuid = $1
