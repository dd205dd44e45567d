-- The limit keys of ready limited steps for the callables $1 (among the first 1000 in claim
-- order, on steps_limited), each with the strictest settings its steps carry, in key order (the
-- order their limits rows are locked in, so that two claims never wait for each other).
SELECT limit_key, min(limit_concurrency), min(limit_per_second), min(limit_burst)
FROM (
    SELECT limit_key, limit_concurrency, limit_per_second, limit_burst FROM steps
    WHERE limit_key IS NOT NULL AND state IN ('enqueued', 'waiting_for_retry')
        AND ready_at <= statement_timestamp() AND handler_callable = ANY($1::text[])
    ORDER BY claim_order, ready_at, step_uuid
    LIMIT 1000
) k
GROUP BY limit_key
ORDER BY limit_key
