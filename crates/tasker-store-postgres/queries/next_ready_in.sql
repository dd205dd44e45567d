-- Milliseconds (rounded up) until the next step for these callables is claimable. Walks
-- steps_claimable: a step's claim order is its ready time less its priority (-1000..1000) in
-- seconds, so the earliest ready step's claim order is at most 2000 s after the first claim
-- order (that of `first`), and the scan stops there. A ready limited step may be held back by
-- its limit: it counts as due 100 ms from now, so that workers look again soon without spinning.
WITH first AS (
    SELECT claim_order FROM steps
    WHERE state IN ('enqueued', 'waiting_for_retry') AND handler_callable = ANY($1::text[])
    ORDER BY claim_order
    LIMIT 1
)
SELECT ceil(extract(epoch FROM min(CASE WHEN s.limit_key IS NULL THEN s.ready_at
        ELSE greatest(s.ready_at, statement_timestamp() + interval '100 milliseconds') END)
    - statement_timestamp()) * 1000)::int8
FROM first f JOIN steps s
    ON s.claim_order <= f.claim_order + interval '2000 seconds'
WHERE s.state IN ('enqueued', 'waiting_for_retry') AND s.handler_callable = ANY($1::text[])
