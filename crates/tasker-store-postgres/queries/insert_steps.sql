-- An `enqueued` step is claimable ready_in_ms from now (0: at once), a `waiting_for_child`
-- step gets its child then; a `waiting_for_signal`
-- step's deadline is signal_timeout_ms from now (NULL: none). A step has its task's priority
-- (the task is inserted first). A limited step carries its limit key and settings.
INSERT INTO steps (step_uuid, task_uuid, name, template_step_name, handler_callable, step_type,
    state, dep_total, pending_deps, attempts, max_attempts, ready_at, inputs, created_at,
    updated_at, created_by, signal_timeout_ms, priority, limit_key, limit_concurrency, limit_per_second,
    limit_burst)
SELECT i.step_uuid, i.task_uuid, i.name, i.template_step_name, i.handler_callable, i.step_type,
    i.state, i.dep_total, i.pending_deps, 0, i.max_attempts,
    CASE WHEN i.state IN ('enqueued', 'waiting_for_child')
        THEN statement_timestamp() + i.ready_in_ms * interval '1 millisecond'
        WHEN i.state = 'waiting_for_signal'
        THEN statement_timestamp() + i.signal_timeout_ms * interval '1 millisecond' END,
    i.inputs::json, now(), now(), i.created_by, i.signal_timeout_ms,
    (SELECT t.priority FROM tasks t WHERE t.task_uuid = i.task_uuid), i.limit_key,
    i.limit_concurrency, i.limit_per_second, i.limit_burst
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::int8[], $9::int8[], $10::int8[], $11::text[], $12::float8[], $13::uuid[], $14::int8[],
    $15::text[], $16::int4[], $17::float8[], $18::int4[])
    AS i (step_uuid, task_uuid, name, template_step_name, handler_callable, step_type, state,
        dep_total, pending_deps, max_attempts, inputs, ready_in_ms, created_by, signal_timeout_ms,
        limit_key, limit_concurrency, limit_per_second, limit_burst)
