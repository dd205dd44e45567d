-- A task whose id or idempotency key is taken (also by an earlier task of the same batch) is
-- skipped; the inserted ones come back with their creation time.
INSERT INTO tasks (task_uuid, namespace, name, version, template_digest, state, context,
    idempotency_key, total_steps, completed_steps, created_at, updated_at, completed_at,
    trace_context, priority)
SELECT i.task_uuid, i.namespace, i.name, i.version, i.template_digest, i.state, i.context::json,
    i.idempotency_key, i.total_steps, 0, now(), now(),
    CASE WHEN i.state IN ('complete', 'error', 'cancelled') THEN now() END, i.trace_context,
    i.priority
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::int8[], $10::text[], $11::int8[])
    WITH ORDINALITY AS i (task_uuid, namespace, name, version, template_digest, state, context,
        idempotency_key, total_steps, trace_context, priority, ord)
ORDER BY i.ord
ON CONFLICT DO NOTHING
RETURNING task_uuid, created_at
