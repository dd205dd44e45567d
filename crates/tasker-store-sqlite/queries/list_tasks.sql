SELECT task_uuid, namespace, name, version, state, context, idempotency_key, total_steps,
    completed_steps, created_at, updated_at, completed_at, priority, correlation_id, parent_correlation_id, initiator, source_system, reason, tags, identity_hash
FROM tasker_tasks
WHERE /*filters*/
ORDER BY created_at DESC, task_uuid DESC
LIMIT ?4 OFFSET ?5
