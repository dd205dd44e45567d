SELECT name, cron, timezone, namespace, task_name, version, context, missed, last_fire_at,
    created_at, updated_at
FROM tasker_schedules ORDER BY name LIMIT ?1
