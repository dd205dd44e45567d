UPDATE tasks t SET completed_steps = t.completed_steps + c.completed,
    total_steps = t.total_steps + c.total, updated_at = now()
FROM (
    SELECT task_uuid, sum(completed_delta)::int8 AS completed, sum(total_delta)::int8 AS total
    FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS c (task_uuid, completed_delta, total_delta)
    GROUP BY task_uuid
) c
WHERE t.task_uuid = c.task_uuid
