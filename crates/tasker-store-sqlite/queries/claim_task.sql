SELECT namespace, name, version, template_digest, context FROM tasker_tasks WHERE task_uuid = ?1
