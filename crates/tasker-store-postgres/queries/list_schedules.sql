SELECT name, cron, timezone, namespace, task_name, version, context::text, missed, last_fire_at,
    created_at, updated_at
FROM schedules ORDER BY name LIMIT $1
