-- Steps for the callables $1 that are claimable now but not claimed (the queue's backlog): how
-- many, and how long (ms) the oldest has been waiting. Walks the steps_claimable index.
SELECT count(*)::int8,
    floor(extract(epoch FROM statement_timestamp() - min(ready_at)) * 1000)::int8
FROM steps
WHERE state IN ('enqueued', 'waiting_for_retry') AND ready_at <= statement_timestamp()
    AND handler_callable = ANY($1::text[])
