-- Lock the limits row of key $1 (creating it), store its settings (concurrency $2, rate $3 a
-- second, burst $4) and refill its token bucket by the database time since the last refill;
-- the tokens now in it (NULL: no rate limit).
INSERT INTO limits AS l (key, concurrency, per_second, burst, tokens, refilled_at)
VALUES ($1, $2::int4, $3::float8, $4::int4,
    CASE WHEN $3::float8 IS NULL THEN NULL ELSE $4::int4 END, statement_timestamp())
ON CONFLICT (key) DO UPDATE SET concurrency = excluded.concurrency,
    per_second = excluded.per_second, burst = excluded.burst,
    tokens = CASE WHEN excluded.per_second IS NULL THEN NULL
        ELSE least(excluded.burst::float8, coalesce(l.tokens, excluded.burst::float8)
            + greatest(0, extract(epoch FROM statement_timestamp() - l.refilled_at))
            * excluded.per_second) END,
    refilled_at = statement_timestamp()
RETURNING tokens
