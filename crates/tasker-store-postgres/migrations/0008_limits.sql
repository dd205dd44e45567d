-- Per-handler limits (docs/limits.md). A step whose template step sets `concurrency` and/or
-- `rate_limit` gets, when it is created, its limit key (`<callable>` or
-- `<callable>:<resolved limit_key>`) and its limit settings; NULL limit_key: unlimited.
--
-- `limits` holds one row per key: the settings last seen on a claimed step of the key and the
-- token bucket (`tokens`, refilled by elapsed database time since `refilled_at`). A claim of a
-- limited key locks the key's row first (FOR UPDATE SKIP LOCKED: a key another claim holds is
-- skipped, never waited for), then counts the key's steps in progress: two processes cannot
-- both take the last slot. Running steps are counted, not kept in a counter,
-- so completion, failure, lease expiry and release need no bookkeeping.
--
-- The plain claim skips limited steps (limit_key IS NULL); steps_limited lets the limited claim
-- find them without touching unlimited ones, and steps_limit_running counts a key's running
-- steps.
ALTER TABLE steps ADD COLUMN limit_key text;
ALTER TABLE steps ADD COLUMN limit_concurrency integer CHECK (limit_concurrency >= 1);
ALTER TABLE steps ADD COLUMN limit_per_second float8 CHECK (limit_per_second > 0);
ALTER TABLE steps ADD COLUMN limit_burst integer CHECK (limit_burst >= 1);

CREATE INDEX steps_limited ON steps (claim_order, ready_at, step_uuid)
    WHERE limit_key IS NOT NULL AND state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX steps_limit_running ON steps (limit_key)
    WHERE limit_key IS NOT NULL AND state = 'in_progress';

CREATE TABLE limits (
    key text PRIMARY KEY,
    concurrency integer,
    per_second float8,
    burst integer,
    tokens float8,
    refilled_at timestamptz NOT NULL
);
