UPDATE tasker_steps SET state = 'cancelled', claim_id = NULL, claimed_by = NULL,
    lease_until = NULL, ready_at = NULL, updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1
