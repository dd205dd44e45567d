UPDATE tasker_steps SET pending_deps = pending_deps + 1, dep_total = dep_total + 1,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1 AND state = 'pending'
