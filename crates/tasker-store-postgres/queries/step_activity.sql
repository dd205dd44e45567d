-- Step executions that ended in the last $1 ms, per minute (its start, ms since the epoch) and
-- end state, walking the partial index on the end transitions' time.
SELECT (extract(epoch FROM date_trunc('minute', at)) * 1000)::bigint AS minute, to_state,
    count(*)::bigint
FROM transitions
WHERE step_uuid IS NOT NULL
    AND to_state IN ('complete', 'resolved_manually', 'error', 'waiting_for_retry')
    AND at >= statement_timestamp() - $1::float8 * interval '1 millisecond'
GROUP BY 1, 2
ORDER BY 1, 2
