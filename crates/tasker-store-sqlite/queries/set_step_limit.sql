-- Give step ?1 the limit key ?2 and settings (concurrency ?3, rate ?4 a second, burst ?5)
-- unless it has a limit already.
UPDATE tasker_steps SET limit_key = ?2, limit_concurrency = ?3, limit_per_second = ?4,
    limit_burst = ?5
WHERE step_uuid = ?1 AND limit_key IS NULL
