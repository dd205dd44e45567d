-- The signals received for the (task, step name) pairs $1, $2.
SELECT g.task_uuid, g.step_name, g.payload::text,
    g.received_at, g.applied_at
FROM unnest($1::uuid[], $2::text[]) AS k (task_uuid, step_name)
JOIN signals g ON g.task_uuid = k.task_uuid AND g.step_name = k.step_name
