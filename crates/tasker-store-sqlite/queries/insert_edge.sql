INSERT INTO tasker_step_edges (from_step, to_step) VALUES (?1, ?2)
