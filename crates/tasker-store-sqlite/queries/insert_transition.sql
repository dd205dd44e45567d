INSERT INTO tasker_transitions (task_uuid, step_uuid, from_state, to_state, at, worker_id, reason)
VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6)
