INSERT INTO tasker_schedules (name, cron, timezone, namespace, task_name, version, context, missed,
    last_fire_at, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER),
    CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
    namespace = excluded.namespace, task_name = excluded.task_name, version = excluded.version,
    context = excluded.context, missed = excluded.missed, updated_at = excluded.updated_at
