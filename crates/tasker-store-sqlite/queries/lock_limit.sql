-- The limits row of key ?1 (created if missing) with its settings (concurrency ?2, rate ?3 a
-- second, burst ?4) stored and its token bucket refilled by the time since the last refill;
-- the tokens now in it (NULL: no rate limit).
INSERT INTO tasker_limits AS l (key, concurrency, per_second, burst, tokens, refilled_at)
VALUES (?1, ?2, ?3, ?4, CASE WHEN ?3 IS NULL THEN NULL ELSE ?4 END, CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (key) DO UPDATE SET concurrency = excluded.concurrency,
    per_second = excluded.per_second, burst = excluded.burst,
    tokens = CASE WHEN excluded.per_second IS NULL THEN NULL
        ELSE min(CAST(excluded.burst AS REAL), coalesce(l.tokens, excluded.burst)
            + max(0, CAST(unixepoch('subsec') * 1000 AS INTEGER) - l.refilled_at) / 1000.0 * excluded.per_second) END,
    refilled_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
RETURNING tokens
