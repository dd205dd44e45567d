-- Steps for the callables ?1 that are claimable now but not claimed (the queue's backlog): how
-- many, and how long (ms) the oldest has been waiting. Walks tasker_steps_claimable: a step
-- ready now has a claim order at most 1000 s (the highest priority) after now.
SELECT COUNT(*), CAST(unixepoch('subsec') * 1000 AS INTEGER) - MIN(ready_at) FROM tasker_steps
WHERE state IN ('enqueued', 'waiting_for_retry')
  AND claim_order <= CAST(unixepoch('subsec') * 1000 AS INTEGER) + 1000000
  AND ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
  AND handler_callable IN (SELECT value FROM json_each(?1))
