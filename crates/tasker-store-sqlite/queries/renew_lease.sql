UPDATE tasker_steps SET lease_until = CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?4
WHERE step_uuid = ?1 AND claim_id = ?2 AND claimed_by = ?3 AND state = 'in_progress'
