SELECT namespace, name, version FROM templates
ORDER BY namespace, name, version LIMIT $1
