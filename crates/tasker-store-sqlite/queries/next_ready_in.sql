-- Milliseconds until the next step for these callables is claimable. Walks
-- tasker_steps_claimable: a step's claim order is its ready time less its priority
-- (-1000..1000) in seconds, so the earliest ready step's claim order is at most 2000 s after the
-- first claim order, and the scan stops there. A ready limited step may be held back by its
-- limit: it counts as due 100 ms from now, so that workers look again soon without spinning.
SELECT MIN(CASE WHEN s.limit_key IS NULL THEN s.ready_at
        ELSE MAX(s.ready_at, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 100) END)
    - CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM tasker_steps s
WHERE s.state IN ('enqueued', 'waiting_for_retry')
  AND s.handler_callable IN (SELECT value FROM json_each(?1))
  AND s.claim_order <= (
    SELECT f.claim_order FROM tasker_steps f
    WHERE f.state IN ('enqueued', 'waiting_for_retry')
      AND f.handler_callable IN (SELECT value FROM json_each(?1))
    ORDER BY f.claim_order
    LIMIT 1) + 2000000
