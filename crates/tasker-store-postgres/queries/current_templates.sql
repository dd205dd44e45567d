-- The digest and definition each key points at, in the order of the keys ($4: their index).
SELECT k.ord, t.digest, s.definition::text
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (namespace, name, version, ord)
JOIN templates t ON t.namespace = k.namespace AND t.name = k.name AND t.version = k.version
JOIN template_snapshots s ON s.digest = t.digest
ORDER BY k.ord
