-- Newest first. /*filters*/ names only the filters given (namespace $1, name $2, state $3), the
-- others as `$n::text IS NULL`, so that each combination is its own prepared statement with a
-- plan on the index that serves it.
SELECT task_uuid, namespace, name, version, state, context::text, idempotency_key, total_steps,
    completed_steps, created_at, updated_at, completed_at, priority, correlation_id, parent_correlation_id, initiator, source_system, reason, tags::text, identity_hash
FROM tasks
WHERE /*filters*/
ORDER BY created_at DESC, task_uuid DESC
LIMIT $4 OFFSET $5
