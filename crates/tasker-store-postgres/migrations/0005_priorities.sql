-- Priorities (docs/priorities.md). A task has a priority, -1000..1000 (higher first, 0 by
-- default), and each of its steps a copy of it (steps created later by decisions and batches
-- copy it from the task when they are inserted).
--
-- Claiming orders steps by `claim_order`: the ready time moved earlier by one second per
-- priority point, then by ready time, then by step id (ids are time-ordered: a batch of tasks
-- created at once keeps its order). A step that has been ready N seconds longer than another is
-- worth N points more, so waiting wins in the end: a step comes before every step that became
-- ready more than 2000 s after it, whatever their priorities (none starves).
--
-- `claim_order` is an interval since the epoch, not a timestamptz: a generated column needs an
-- IMMUTABLE expression, and `timestamptz - timestamptz` and interval arithmetic are, while
-- `timestamptz - interval` is only STABLE. Intervals compare as their total length.
--
-- steps_claimable is rebuilt on (claim_order, ready_at, step_uuid): the claim walks it in claim
-- order and stops after the first N rows it can lock. It replaces the index on ready_at rather
-- than adding to it, so the planner is never tempted to range-scan ready times and sort. The
-- statements that need the earliest ready time (next_ready_in, ready_steps) walk it too: a
-- step's claim order is within 1000 s of its ready time.
ALTER TABLE tasks ADD COLUMN priority integer NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -1000 AND 1000);
ALTER TABLE steps ADD COLUMN priority integer NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -1000 AND 1000);
ALTER TABLE steps ADD COLUMN claim_order interval GENERATED ALWAYS AS
    ((ready_at - timestamptz '1970-01-01 00:00:00+00') - priority * interval '1 second') STORED;

DROP INDEX steps_claimable;
CREATE INDEX steps_claimable ON steps (claim_order, ready_at, step_uuid)
    WHERE state IN ('enqueued', 'waiting_for_retry');
