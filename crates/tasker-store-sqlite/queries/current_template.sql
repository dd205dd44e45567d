SELECT t.digest, s.definition
FROM tasker_templates t JOIN tasker_template_snapshots s ON s.digest = t.digest
WHERE t.namespace = ?1 AND t.name = ?2 AND t.version = ?3
