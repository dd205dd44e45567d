-- Per-handler limits (docs/limits.md); see the PostgreSQL migration 0008_limits.sql. The plain
-- claim skips limited steps (limit_key IS NULL); a claim of a limited key counts the key's
-- steps in progress and takes tokens from its bucket in the same (serial) write transaction.
ALTER TABLE tasker_steps ADD COLUMN limit_key TEXT;
ALTER TABLE tasker_steps ADD COLUMN limit_concurrency INTEGER;
ALTER TABLE tasker_steps ADD COLUMN limit_per_second REAL;
ALTER TABLE tasker_steps ADD COLUMN limit_burst INTEGER;

CREATE INDEX tasker_steps_limited ON tasker_steps (claim_order, ready_at, step_uuid)
    WHERE limit_key IS NOT NULL AND state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_limit_running ON tasker_steps (limit_key)
    WHERE limit_key IS NOT NULL AND state = 'in_progress';

CREATE TABLE tasker_limits (
    key TEXT PRIMARY KEY,
    concurrency INTEGER,
    per_second REAL,
    burst INTEGER,
    tokens REAL,
    refilled_at INTEGER NOT NULL
);
