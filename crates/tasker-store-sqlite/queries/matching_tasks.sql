-- How many tasks match a filter (at most ?4; ?5 is always 0). /*filters*/ is filled in as for
-- list_tasks.sql, so that both take the same parameters.
SELECT count(*) FROM (
    SELECT 1 FROM tasker_tasks
    WHERE /*filters*/
    LIMIT ?4 OFFSET ?5
)
