-- Up to ?2 ready steps of the callables ?1 that carry no limit, in claim order, with their
-- task's context: a worker that limits these callables itself (createWorker limits) gives them
-- their limit (set_step_limit.sql) before it claims. Walks tasker_steps_claimable.
SELECT s.step_uuid, s.handler_callable, t.context
FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
WHERE s.state IN ('enqueued', 'waiting_for_retry') AND s.ready_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
  AND s.handler_callable IN (SELECT value FROM json_each(?1)) AND s.limit_key IS NULL
ORDER BY s.claim_order, s.ready_at, s.step_uuid
LIMIT ?2
