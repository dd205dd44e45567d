-- Per task of $1 (every one, in the order given): steps ready or running (or waiting for a child task), steps waiting out a
-- backoff, and ms (rounded up) until the earliest of those is due.
SELECT k.task_uuid,
    count(*) FILTER (WHERE s.state IN ('enqueued', 'in_progress', 'waiting_for_child')),
    count(*) FILTER (WHERE s.state = 'waiting_for_retry'),
    ceil(extract(epoch FROM min(s.ready_at) FILTER (WHERE s.state = 'waiting_for_retry')
        - statement_timestamp()) * 1000)::int8
FROM unnest($1::uuid[]) WITH ORDINALITY AS k (task_uuid, ord)
LEFT JOIN steps s ON s.task_uuid = k.task_uuid
GROUP BY k.ord, k.task_uuid
ORDER BY k.ord
