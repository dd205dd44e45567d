SELECT name, cron, timezone, namespace, task_name, version, context::text, missed, last_fire_at,
    created_at, updated_at
FROM schedules WHERE name = ANY ($1::text[]) ORDER BY name
