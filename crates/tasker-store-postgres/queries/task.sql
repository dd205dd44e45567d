SELECT task_uuid, namespace, name, version, state, context::text, idempotency_key, total_steps,
    completed_steps, created_at, updated_at, completed_at, priority, correlation_id, parent_correlation_id, initiator, source_system, reason, tags::text, identity_hash
FROM tasks WHERE task_uuid = $1
