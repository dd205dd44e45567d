UPDATE tasker_steps SET checkpoint = ?3, lease_until = CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?4, updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1 AND claim_id = ?2 AND state = 'in_progress'
