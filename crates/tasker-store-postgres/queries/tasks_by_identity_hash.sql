SELECT k.ord, t.task_uuid
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    WITH ORDINALITY AS k (namespace, name, version, identity_hash, ord)
JOIN tasks t ON t.namespace = k.namespace AND t.name = k.name AND t.version = k.version
    AND t.identity_hash = k.identity_hash
ORDER BY k.ord
