-- claimable.sql for the steps of limit key ?3: up to ?2 ready steps for the callables ?1, in claim order (the ready time moved one second
-- earlier per priority point, then the ready time, then the id): a walk of tasker_steps_limited.
SELECT s.step_uuid, s.state, s.task_uuid, s.name, s.template_step_name, s.step_type,
    s.attempts, s.max_attempts, s.dep_total, s.inputs, s.checkpoint,
    t.namespace, t.name, t.version, t.template_digest, t.context, t.trace_context,
    t.correlation_id, t.parent_correlation_id, t.initiator, t.source_system, t.reason, t.tags
FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
WHERE s.state IN ('enqueued', 'waiting_for_retry') AND s.ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
  AND s.handler_callable IN (SELECT value FROM json_each(?1)) AND s.limit_key = ?3
ORDER BY s.claim_order, s.ready_at, s.step_uuid
LIMIT ?2
