SELECT s.step_uuid, s.claim_id, s.task_uuid, s.name, s.template_step_name, s.step_type,
    s.attempts, s.max_attempts, t.state, t.completed_steps, t.total_steps, t.template_digest
FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
WHERE s.step_uuid IN (SELECT value FROM json_each(?1)) AND s.state = 'in_progress'
