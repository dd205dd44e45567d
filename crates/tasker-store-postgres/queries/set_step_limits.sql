-- Give each step $1[i] the limit key $2[i] and settings (concurrency $3[i], rate $4[i] a
-- second, burst $5[i]) unless it has a limit already.
UPDATE steps s SET limit_key = v.key, limit_concurrency = v.concurrency,
    limit_per_second = v.per_second, limit_burst = v.burst
FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::float8[], $5::int4[])
    AS v(step_uuid, key, concurrency, per_second, burst)
WHERE s.step_uuid = v.step_uuid AND s.limit_key IS NULL
