-- Lock the limits row of key $1 unless another transaction holds it (then no row: the caller
-- skips the key for now, so that a claim never waits on a limit while it holds other locks),
-- store its settings (concurrency $2, rate $3 a second, burst $4) and refill its token bucket
-- by the database time since the last refill; the key and the tokens now in it (NULL: no rate
-- limit).
WITH locked AS (SELECT key FROM limits WHERE key = $1 FOR UPDATE SKIP LOCKED)
UPDATE limits l SET concurrency = $2::int4, per_second = $3::float8, burst = $4::int4,
    tokens = CASE WHEN $3::float8 IS NULL THEN NULL
        ELSE least($4::int4::float8, coalesce(l.tokens, $4::int4::float8)
            + greatest(0, extract(epoch FROM statement_timestamp() - l.refilled_at))
            * $3::float8) END,
    refilled_at = statement_timestamp()
FROM locked
WHERE l.key = locked.key
RETURNING l.key, l.tokens
