-- A task whose id, idempotency key or identity hash is taken (also by an earlier task of the
-- same batch) is skipped; the inserted ones come back with their creation time. The tags
-- ($19/$20: task and tag, one pair per tag) of the tasks inserted go into task_tags. $21-$24:
-- the lifecycle limits (docs/lifecycle.md).
WITH inserted AS (
    INSERT INTO tasks (task_uuid, namespace, name, version, template_digest, state, context,
        idempotency_key, total_steps, completed_steps, created_at, updated_at, completed_at,
        trace_context, priority, correlation_id, parent_correlation_id, initiator,
        source_system, reason, tags, identity_hash, max_duration_ms, max_in_process_ms,
        max_dependencies_ms, max_retry_wait_ms)
    SELECT i.task_uuid, i.namespace, i.name, i.version, i.template_digest, i.state,
        i.context::json, i.idempotency_key, i.total_steps, 0, now(), now(),
        CASE WHEN i.state IN ('complete', 'error', 'cancelled') THEN now() END, i.trace_context,
        i.priority, i.correlation_id, i.parent_correlation_id, i.initiator, i.source_system,
        i.reason, i.tags::json, i.identity_hash, i.max_duration_ms, i.max_in_process_ms,
        i.max_dependencies_ms, i.max_retry_wait_ms
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::int8[], $10::text[], $11::int8[], $12::text[], $13::text[],
        $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $21::int8[],
        $22::int8[], $23::int8[], $24::int8[])
        WITH ORDINALITY AS i (task_uuid, namespace, name, version, template_digest, state,
            context, idempotency_key, total_steps, trace_context, priority, correlation_id,
            parent_correlation_id, initiator, source_system, reason, tags, identity_hash,
            max_duration_ms, max_in_process_ms, max_dependencies_ms, max_retry_wait_ms, ord)
    ORDER BY i.ord
    ON CONFLICT DO NOTHING
    RETURNING task_uuid, created_at
), tagged AS (
    INSERT INTO task_tags (task_uuid, tag)
    SELECT g.task_uuid, g.tag
    FROM unnest($19::uuid[], $20::text[]) AS g (task_uuid, tag)
    JOIN inserted ON inserted.task_uuid = g.task_uuid
)
SELECT task_uuid, created_at FROM inserted
