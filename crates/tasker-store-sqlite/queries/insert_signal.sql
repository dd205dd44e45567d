-- Store a signal received now (?4: applied at once); returns when it was received.
INSERT INTO tasker_signals (task_uuid, step_name, payload, received_at, applied_at)
VALUES (?1, ?2, ?3, CAST(unixepoch('subsec') * 1000 AS INTEGER), CASE WHEN ?4 THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) END)
RETURNING received_at
