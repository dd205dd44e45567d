-- Milliseconds (rounded up) until the next step for these callables is claimable.
SELECT ceil(extract(epoch FROM min(ready_at) - statement_timestamp()) * 1000)::int8
FROM steps
WHERE state IN ('enqueued', 'waiting_for_retry') AND handler_callable = ANY($1::text[])
