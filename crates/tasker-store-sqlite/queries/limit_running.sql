-- Steps of limit key ?1 in progress.
SELECT count(*) FROM tasker_steps WHERE limit_key = ?1 AND state = 'in_progress'
