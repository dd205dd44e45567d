-- Insert schedules, or update the definition of those that exist (their fire state is kept).
INSERT INTO schedules (name, cron, timezone, namespace, task_name, version, context, missed,
    last_fire_at, created_at, updated_at)
SELECT DISTINCT ON (name) name, cron, timezone, namespace, task_name, version, context::json,
    missed, NULL, now(), now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[]) WITH ORDINALITY AS i (name, cron, timezone, namespace, task_name, version, context,
    missed, ord)
ORDER BY name, ord DESC
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
    namespace = excluded.namespace, task_name = excluded.task_name, version = excluded.version,
    context = excluded.context, missed = excluded.missed, updated_at = excluded.updated_at
