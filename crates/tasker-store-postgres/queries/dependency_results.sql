-- The completed dependencies of each step of $1, with their results: the steps of its task whose
-- template step is the name paired with it in $2 (batch workers included), grouped by that step
-- in the order given. Walks the (task_uuid, template_step_name) index of migration 12.
WITH wanted AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS w (for_step, dependency, ord)
)
SELECT w.for_step, s.step_uuid, s.name, s.result::text
FROM wanted w
JOIN steps f ON f.step_uuid = w.for_step
JOIN steps s ON s.task_uuid = f.task_uuid AND s.template_step_name = w.dependency
WHERE s.state IN ('complete', 'resolved_manually')
ORDER BY w.ord, s.created_at, s.step_uuid
