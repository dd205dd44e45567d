-- Apply step changes ($1..$9 are one array per field; each step appears once). The claim is
-- cleared unless the step stays in progress; with an expected claim ($9) a change applies only
-- while the step is in progress under it. The rows are locked first in (task, step) order.
WITH c AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::text[],
        $6::text[], $7::float8[], $8::int4[], $9::uuid[])
        AS c (step_uuid, to_state, result, set_error, error, metadata, ready_in_ms, uncount,
            expect_claim)
), locked AS (
    SELECT s.step_uuid FROM steps s
    WHERE s.step_uuid IN (SELECT step_uuid FROM c)
    ORDER BY s.task_uuid, s.step_uuid
    FOR NO KEY UPDATE
)
UPDATE steps s SET
    state = c.to_state,
    result = CASE WHEN c.result IS NULL THEN s.result ELSE c.result::json END,
    error = CASE WHEN c.set_error THEN c.error::json ELSE s.error END,
    metadata = CASE WHEN c.metadata IS NULL THEN s.metadata ELSE c.metadata::json END,
    ready_at = CASE WHEN c.to_state IN ('enqueued', 'waiting_for_retry')
        THEN statement_timestamp() + c.ready_in_ms * interval '1 millisecond' END,
    attempts = s.attempts - c.uncount,
    claim_id = CASE WHEN c.to_state = 'in_progress' THEN s.claim_id END,
    claimed_by = CASE WHEN c.to_state = 'in_progress' THEN s.claimed_by END,
    lease_until = CASE WHEN c.to_state = 'in_progress' THEN s.lease_until END,
    updated_at = now()
FROM c JOIN locked l ON l.step_uuid = c.step_uuid
WHERE s.step_uuid = c.step_uuid
    AND (c.expect_claim IS NULL OR (s.claim_id = c.expect_claim AND s.state = 'in_progress'))
RETURNING s.step_uuid
