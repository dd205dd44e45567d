-- The completed ancestors of each step of $1, with their results, grouped by that step in the
-- order given.
WITH RECURSIVE wanted AS (
    SELECT * FROM unnest($1::uuid[]) WITH ORDINALITY AS w (step_uuid, ord)
), ancestors (ord, for_step, step_uuid) AS (
    SELECT w.ord, w.step_uuid, e.from_step
    FROM wanted w JOIN step_edges e ON e.to_step = w.step_uuid
    UNION
    SELECT a.ord, a.for_step, e.from_step
    FROM ancestors a JOIN step_edges e ON e.to_step = a.step_uuid
)
SELECT a.for_step, s.step_uuid, s.name, s.result::text
FROM ancestors a JOIN steps s ON s.step_uuid = a.step_uuid
WHERE s.state IN ('complete', 'resolved_manually')
ORDER BY a.ord, s.created_at, s.step_uuid
