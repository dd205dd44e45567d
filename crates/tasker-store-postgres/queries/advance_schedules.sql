-- Compare-and-set of each schedule's last fire time (ms since the epoch; NULL: never fired). A
-- concurrent transaction that advanced the same row first holds its lock until it commits; the
-- comparison is then made against its new value, and fails.
UPDATE schedules AS s
SET last_fire_at = 'epoch'::timestamptz + i.to_ms * interval '1 millisecond'
FROM unnest($1::text[], $2::int8[], $3::int8[]) AS i (name, expect_ms, to_ms)
WHERE s.name = i.name
    AND s.last_fire_at IS NOT DISTINCT FROM
        ('epoch'::timestamptz + i.expect_ms * interval '1 millisecond')
RETURNING s.name
