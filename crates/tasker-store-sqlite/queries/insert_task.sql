INSERT INTO tasker_tasks (task_uuid, namespace, name, version, template_digest, state, context,
    idempotency_key, total_steps, completed_steps, created_at, updated_at, completed_at,
    trace_context, priority, correlation_id, parent_correlation_id, initiator, source_system,
    reason, tags, identity_hash, max_duration_ms, max_in_process_ms, max_dependencies_ms,
    max_retry_wait_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?10,
    CASE WHEN ?6 IN ('complete', 'error', 'cancelled') THEN ?10 END, ?11, ?12, ?13, ?14, ?15,
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
ON CONFLICT DO NOTHING
RETURNING created_at
