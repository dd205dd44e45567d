SELECT s.task_uuid, t.state
FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
WHERE s.step_uuid = ?1 AND s.claim_id = ?2 AND s.state = 'in_progress'
