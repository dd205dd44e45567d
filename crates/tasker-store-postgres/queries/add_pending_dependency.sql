-- Each pending step of $1 waits for one more dependency per time it is listed.
WITH listed AS (
    SELECT step_uuid, count(*) AS n FROM unnest($1::uuid[]) AS l (step_uuid) GROUP BY step_uuid
)
UPDATE steps s SET pending_deps = s.pending_deps + l.n, dep_total = s.dep_total + l.n,
    updated_at = now()
FROM listed l
WHERE s.step_uuid = l.step_uuid AND s.state = 'pending'
RETURNING s.step_uuid
