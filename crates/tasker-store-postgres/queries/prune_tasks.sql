-- Delete up to $3 tasks in the states $1 that finished at least $2 ms ago, oldest first; their
-- steps, edges and transitions go with them (ON DELETE CASCADE). Tasks another transaction
-- holds are left for the next batch.
WITH doomed AS (
    SELECT task_uuid FROM tasks
    WHERE completed_at IS NOT NULL
        AND completed_at <= statement_timestamp() - $2::float8 * interval '1 millisecond'
        AND state = ANY($1::text[])
    ORDER BY completed_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
DELETE FROM tasks t USING doomed d WHERE t.task_uuid = d.task_uuid
