-- Step executions that ended in the last ?1 ms, per minute (its start, ms since the epoch) and
-- end state, walking the partial index on the end transitions' time.
SELECT (at / 60000) * 60000 AS minute, to_state, count(*)
FROM tasker_transitions
WHERE step_uuid IS NOT NULL
  AND to_state IN ('complete', 'resolved_manually', 'error', 'waiting_for_retry')
  AND at >= CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?1
GROUP BY minute, to_state
ORDER BY minute, to_state
