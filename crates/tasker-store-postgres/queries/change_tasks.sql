-- Apply task state changes (each task appears once); with an expected state ($3) only if the
-- task is in it. Terminal states set completed_at.
UPDATE tasks t SET state = c.to_state, updated_at = now(),
    completed_at = CASE WHEN c.to_state IN ('complete', 'error', 'cancelled')
        THEN now() ELSE NULL END
FROM unnest($1::uuid[], $2::text[], $3::text[]) AS c (task_uuid, to_state, expect)
WHERE t.task_uuid = c.task_uuid AND (c.expect IS NULL OR t.state = c.expect)
RETURNING t.task_uuid
