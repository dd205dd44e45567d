UPDATE steps SET checkpoint = $3::json,
    lease_until = statement_timestamp() + $4::float8 * interval '1 millisecond',
    updated_at = now()
WHERE step_uuid = $1 AND claim_id = $2 AND state = 'in_progress'
