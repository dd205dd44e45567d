-- The limit keys of ready limited steps for the callables ?1 (among the first 1000 in claim
-- order, on tasker_steps_limited), each with the strictest settings its steps carry.
SELECT limit_key, min(limit_concurrency), min(limit_per_second), min(limit_burst)
FROM (
    SELECT limit_key, limit_concurrency, limit_per_second, limit_burst FROM tasker_steps
    WHERE limit_key IS NOT NULL AND state IN ('enqueued', 'waiting_for_retry')
        AND ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
        AND handler_callable IN (SELECT value FROM json_each(?1))
    ORDER BY claim_order, ready_at, step_uuid
    LIMIT 1000
)
GROUP BY limit_key
ORDER BY limit_key
