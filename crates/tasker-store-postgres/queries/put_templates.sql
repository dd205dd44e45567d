-- Store template versions: each snapshot once (the first of a digest wins, as it is immutable),
-- and each version pointing at its digest (the last of a version in the batch wins).
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        WITH ORDINALITY AS i (digest, namespace, name, version, definition, ord)
), snapshots AS (
    INSERT INTO template_snapshots (digest, namespace, name, version, definition, created_at)
    SELECT DISTINCT ON (digest) digest, namespace, name, version, definition::json,
        now()
    FROM input
    ORDER BY digest, ord
    ON CONFLICT (digest) DO NOTHING
)
INSERT INTO templates (namespace, name, version, digest, registered_at)
SELECT DISTINCT ON (namespace, name, version) namespace, name, version, digest,
    now()
FROM input
ORDER BY namespace, name, version, ord DESC
ON CONFLICT (namespace, name, version)
DO UPDATE SET digest = excluded.digest, registered_at = excluded.registered_at
