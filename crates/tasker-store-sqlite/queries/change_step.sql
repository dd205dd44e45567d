UPDATE tasker_steps SET
    state = ?2,
    result = CASE WHEN ?3 IS NULL THEN result ELSE ?3 END,
    error = CASE WHEN ?4 THEN ?5 ELSE error END,
    metadata = CASE WHEN ?6 IS NULL THEN metadata ELSE ?6 END,
    ready_at = CASE WHEN ?2 IN ('enqueued', 'waiting_for_retry') THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?7 END,
    attempts = attempts - ?8,
    claim_id = CASE WHEN ?2 = 'in_progress' THEN claim_id END,
    claimed_by = CASE WHEN ?2 = 'in_progress' THEN claimed_by END,
    lease_until = CASE WHEN ?2 = 'in_progress' THEN lease_until END,
    updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE step_uuid = ?1 AND (?9 IS NULL OR (claim_id = ?9 AND state = 'in_progress'))
