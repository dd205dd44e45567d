INSERT INTO tasker_transitions (task_uuid, step_uuid, from_state, to_state, at, worker_id, reason)
VALUES /*rows*/
