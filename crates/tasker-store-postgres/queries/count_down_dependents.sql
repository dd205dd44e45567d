-- Count the completed steps $1 off their dependents: each dependent goes down by the number of
-- its dependencies in the batch. A pending dependent whose count reaches zero becomes enqueued
-- (ready now), or, a signal step, waiting_for_signal with its deadline in ready_at (NULL: no
-- timeout), or, a subtask step, waiting_for_child (its child is created by the child sweep);
-- only those are returned, with one of the completed steps it waited for.
WITH done AS (
    SELECT e.to_step, count(*) AS n, (array_agg(e.from_step))[1] AS after
    FROM unnest($1::uuid[]) AS c (step_uuid)
    JOIN step_edges e ON e.from_step = c.step_uuid
    GROUP BY e.to_step
), counted AS (
    UPDATE steps s SET
        pending_deps = s.pending_deps - d.n,
        state = CASE WHEN s.state = 'pending' AND s.pending_deps BETWEEN 1 AND d.n
            THEN CASE WHEN s.step_type = 'signal' THEN 'waiting_for_signal'
                WHEN s.step_type = 'subtask' THEN 'waiting_for_child' ELSE 'enqueued' END
            ELSE s.state END,
        ready_at = CASE WHEN s.state = 'pending' AND s.pending_deps BETWEEN 1 AND d.n
            THEN CASE WHEN s.step_type = 'signal'
                THEN statement_timestamp() + s.signal_timeout_ms * interval '1 millisecond'
                ELSE statement_timestamp() END
            ELSE s.ready_at END,
        updated_at = now()
    FROM done d
    WHERE s.step_uuid = d.to_step
    RETURNING s.step_uuid, s.task_uuid, s.handler_callable, s.state, s.pending_deps, d.n,
        d.after, s.name
)
-- Reached zero in this batch: the count was between 1 and n before it.
SELECT step_uuid, task_uuid, handler_callable, after, state, name FROM counted
WHERE state IN ('enqueued', 'waiting_for_signal', 'waiting_for_child') AND pending_deps <= 0 AND pending_deps > -n
ORDER BY task_uuid, step_uuid
