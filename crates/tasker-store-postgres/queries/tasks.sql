SELECT t.task_uuid, t.namespace, t.name, t.version, t.state, t.context::text, t.idempotency_key,
    t.total_steps, t.completed_steps, t.created_at, t.updated_at, t.completed_at,
    t.priority, t.correlation_id, t.parent_correlation_id, t.initiator, t.source_system, t.reason,
    t.tags::text, t.identity_hash
FROM unnest($1::uuid[]) WITH ORDINALITY AS k (task_uuid, ord)
JOIN tasks t ON t.task_uuid = k.task_uuid
ORDER BY k.ord
