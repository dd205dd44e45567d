-- The first claim of limit key $1 creates its limits row (settings $2..$4, a full bucket) and
-- holds it locked; no row when it exists already (held by another transaction: lock_limit.sql
-- skipped it).
INSERT INTO limits (key, concurrency, per_second, burst, tokens, refilled_at)
VALUES ($1, $2::int4, $3::float8, $4::int4,
    CASE WHEN $3::float8 IS NULL THEN NULL ELSE $4::int4 END, statement_timestamp())
ON CONFLICT (key) DO NOTHING
RETURNING key, tokens
