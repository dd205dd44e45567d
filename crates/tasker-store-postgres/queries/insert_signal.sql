-- Store a signal received now ($4: applied at once); returns when it was received.
INSERT INTO signals (task_uuid, step_name, payload, received_at, applied_at)
VALUES ($1, $2, $3::json, statement_timestamp(), CASE WHEN $4 THEN statement_timestamp() END)
RETURNING received_at
