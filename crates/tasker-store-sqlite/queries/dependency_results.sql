-- The completed dependencies of step ?1, with their results: the steps of its task whose
-- template step is one of the names in ?2 (a JSON array), batch workers included. Walks the
-- (task_uuid, template_step_name) index of migration 12.
SELECT s.step_uuid, s.name, s.result
FROM tasker_steps f JOIN tasker_steps s ON s.task_uuid = f.task_uuid
WHERE f.step_uuid = ?1
  AND s.template_step_name IN (SELECT value FROM json_each(?2))
  AND s.state IN ('complete', 'resolved_manually')
