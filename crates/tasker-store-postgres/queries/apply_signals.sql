-- Mark the stored signals of the (task, step name) pairs $1, $2 applied now.
UPDATE signals g SET applied_at = statement_timestamp()
FROM unnest($1::uuid[], $2::text[]) AS k (task_uuid, step_name)
WHERE g.task_uuid = k.task_uuid AND g.step_name = k.step_name AND g.applied_at IS NULL
