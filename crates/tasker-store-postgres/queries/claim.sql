-- Claim up to $2 ready steps for the callables $1, in claim order (the ready time moved one
-- second earlier per priority point, then the ready time, then the id), under claim $3 for worker $4,
-- leased for $5 ms. `picked` walks steps_claimable in claim order and stops after
-- the first $2 rows it can lock (rows another transaction is claiming are skipped, never
-- waited for); the task's columns come along in the same statement. Limited steps (limit_key
-- set) are left to claim_limited.sql.
WITH picked AS (
    SELECT step_uuid, task_uuid, state, ready_at FROM steps
    WHERE state IN ('enqueued', 'waiting_for_retry') AND ready_at <= statement_timestamp()
        AND handler_callable = ANY($1::text[]) AND limit_key IS NULL
    ORDER BY claim_order, ready_at, step_uuid
    LIMIT $2
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE steps s SET state = 'in_progress', attempts = s.attempts + 1, claim_id = $3,
    claimed_by = $4, lease_until = statement_timestamp() + $5::float8 * interval '1 millisecond',
    updated_at = now()
FROM picked p JOIN tasks t ON t.task_uuid = p.task_uuid
WHERE s.step_uuid = p.step_uuid
RETURNING s.step_uuid, s.task_uuid, s.name, s.template_step_name, s.step_type, p.state,
    s.attempts, s.max_attempts, s.dep_total, s.inputs::text, s.checkpoint::text, t.namespace,
    t.name, t.version, t.template_digest, t.context::text, p.ready_at, t.trace_context,
    s.priority, t.correlation_id, t.parent_correlation_id, t.initiator, t.source_system, t.reason,
    t.tags::text
