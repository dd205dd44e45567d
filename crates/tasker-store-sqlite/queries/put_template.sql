INSERT INTO tasker_templates (namespace, name, version, digest, registered_at)
VALUES (?1, ?2, ?3, ?4, CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (namespace, name, version)
DO UPDATE SET digest = excluded.digest, registered_at = excluded.registered_at
