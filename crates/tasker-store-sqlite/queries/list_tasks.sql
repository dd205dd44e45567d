SELECT task_uuid, namespace, name, version, state, context, idempotency_key, total_steps,
    completed_steps, created_at, updated_at, completed_at, priority
FROM tasker_tasks
WHERE /*filters*/
ORDER BY created_at DESC, task_uuid DESC
LIMIT ?4 OFFSET ?5
