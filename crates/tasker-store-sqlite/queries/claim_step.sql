UPDATE tasker_steps SET state = 'in_progress', attempts = attempts + 1, claim_id = ?2,
    claimed_by = ?3, lease_until = CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?4, updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1
