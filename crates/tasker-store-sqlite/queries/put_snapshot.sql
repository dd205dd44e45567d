INSERT INTO tasker_template_snapshots (digest, namespace, name, version, definition, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (digest) DO NOTHING
