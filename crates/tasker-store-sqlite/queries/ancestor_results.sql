WITH RECURSIVE ancestors (step_uuid) AS (
    SELECT from_step FROM tasker_step_edges WHERE to_step = ?1
    UNION
    SELECT e.from_step FROM tasker_step_edges e JOIN ancestors a ON e.to_step = a.step_uuid
)
SELECT s.step_uuid, s.name, s.result
FROM tasker_steps s JOIN ancestors a ON s.step_uuid = a.step_uuid
WHERE s.state IN ('complete', 'resolved_manually')
