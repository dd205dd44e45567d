-- Up to $2 ready steps of the callables $1 that carry no limit, in claim order, with their
-- task's context: a worker that limits these callables itself (createWorker limits) gives them
-- their limit (set_step_limits.sql) before it claims. Rows another transaction is claiming or
-- limiting are skipped, never waited for. Walks steps_claimable, as claim.sql does.
SELECT s.step_uuid, s.handler_callable, t.context::text
FROM steps s JOIN tasks t ON t.task_uuid = s.task_uuid
WHERE s.state IN ('enqueued', 'waiting_for_retry') AND s.ready_at <= statement_timestamp()
    AND s.handler_callable = ANY($1::text[]) AND s.limit_key IS NULL
ORDER BY s.claim_order, s.ready_at, s.step_uuid
LIMIT $2
FOR NO KEY UPDATE OF s SKIP LOCKED
