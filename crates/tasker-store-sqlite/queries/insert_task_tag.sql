INSERT INTO tasker_task_tags (task_uuid, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING
