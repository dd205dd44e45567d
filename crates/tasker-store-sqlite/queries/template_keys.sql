SELECT namespace, name, version FROM tasker_templates
ORDER BY namespace, name, version LIMIT ?1
