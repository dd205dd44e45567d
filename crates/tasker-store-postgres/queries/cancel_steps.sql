-- Move the steps of the tasks $1 (each listed once) that are in one of the states $2 to
-- cancelled, returning the state each left, by task in the order given. Locked first in
-- (task, step) order; a step that changed state meanwhile is re-checked against $2.
WITH open AS (
    SELECT s.step_uuid, s.state FROM steps s
    WHERE s.task_uuid = ANY($1::uuid[]) AND s.state = ANY($2::text[])
    ORDER BY s.task_uuid, s.step_uuid
    FOR NO KEY UPDATE
), cancelled AS (
    UPDATE steps s SET state = 'cancelled', claim_id = NULL, claimed_by = NULL,
        lease_until = NULL, ready_at = NULL, updated_at = now()
    FROM open o
    WHERE s.step_uuid = o.step_uuid
    RETURNING s.task_uuid, s.step_uuid, o.state AS from_state, s.created_at
)
SELECT c.task_uuid, c.step_uuid, c.from_state
FROM cancelled c JOIN unnest($1::uuid[]) WITH ORDINALITY AS k (task_uuid, ord)
    ON k.task_uuid = c.task_uuid
ORDER BY k.ord, c.created_at, c.step_uuid
