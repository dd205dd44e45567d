-- A child task ?1 created for the step ?3 of the task ?2: one deeper than its parent.
UPDATE tasker_tasks SET parent_task_uuid = ?2, parent_step_uuid = ?3,
    depth = (SELECT p.depth + 1 FROM tasker_tasks p WHERE p.task_uuid = ?2)
WHERE task_uuid = ?1
