-- Delete up to ?3 tasks in the states ?1 (a JSON list) that finished at least ?2 ms ago, oldest
-- first; their steps, edges and transitions go with them (ON DELETE CASCADE).
DELETE FROM tasker_tasks WHERE task_uuid IN (
    SELECT task_uuid FROM tasker_tasks
    WHERE completed_at IS NOT NULL
      AND completed_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?2
      AND state IN (SELECT value FROM json_each(?1))
    ORDER BY completed_at
    LIMIT ?3
)
