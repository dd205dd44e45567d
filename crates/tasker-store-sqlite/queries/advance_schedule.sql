-- Compare-and-set: `IS` compares NULL with NULL as equal.
UPDATE tasker_schedules SET last_fire_at = ?3 WHERE name = ?1 AND last_fire_at IS ?2
