-- Steps for the callables $1 that are claimable now but not claimed (the queue's backlog): how
-- many, and how long (ms) the oldest has been waiting. Walks steps_claimable: a step ready now
-- has a claim order at most 1000 s (the highest priority) after now.
SELECT count(*)::int8,
    floor(extract(epoch FROM statement_timestamp() - min(ready_at)) * 1000)::int8
FROM steps
WHERE state IN ('enqueued', 'waiting_for_retry')
    AND claim_order <= statement_timestamp() - timestamptz '1970-01-01 00:00:00+00'
        + interval '1000 seconds'
    AND ready_at <= statement_timestamp()
    AND handler_callable = ANY($1::text[])
