-- Extend by $4 ms from now the leases of the claims ($1 steps, $2 claims) still held by worker
-- $3; locked first in (task, step) order.
WITH held AS (
    SELECT s.step_uuid FROM unnest($1::uuid[], $2::uuid[]) AS c (step_uuid, claim_id)
    JOIN steps s ON s.step_uuid = c.step_uuid AND s.claim_id = c.claim_id
    WHERE s.claimed_by = $3 AND s.state = 'in_progress'
    ORDER BY s.task_uuid, s.step_uuid
    FOR NO KEY UPDATE OF s
)
UPDATE steps s SET lease_until = statement_timestamp() + $4::float8 * interval '1 millisecond'
FROM held h
WHERE s.step_uuid = h.step_uuid AND s.claimed_by = $3 AND s.state = 'in_progress'
RETURNING s.step_uuid, s.claim_id
