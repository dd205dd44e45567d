-- Signal steps (issue 10): a step of type `signal` has no handler; once its dependencies are
-- done it is `waiting_for_signal` until a signal sent to it completes it.
-- * Steps get the type `signal` and the state `waiting_for_signal` (the table is rebuilt, as in
--   migration 2: SQLite cannot change a CHECK constraint in place). A waiting step's `ready_at`
--   is its deadline (NULL: it waits for ever), set from `signal_timeout_ms` when it starts
--   waiting; the timeout sweep walks the deadline index.
-- * `tasker_signals` keeps every signal received, one per (task, step name): a signal sent
--   before its step waits is kept there and applied when the step starts waiting.

CREATE TABLE tasker_steps_v6 (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_step_name TEXT NOT NULL,
    handler_callable TEXT NOT NULL,
    step_type TEXT NOT NULL CHECK (step_type IN
        ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker', 'signal')),
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
         'resolved_manually', 'waiting_for_signal')),
    dep_total INTEGER NOT NULL,
    pending_deps INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    ready_at INTEGER,
    lease_until INTEGER,
    claim_id TEXT,
    claimed_by TEXT,
    inputs TEXT NOT NULL,
    result TEXT,
    error TEXT,
    metadata TEXT,
    checkpoint TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT,
    priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    claim_order INTEGER GENERATED ALWAYS AS (ready_at - priority * 1000) VIRTUAL,
    signal_timeout_ms INTEGER,
    UNIQUE (task_uuid, name)
);

INSERT INTO tasker_steps_v6 (step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at,
    created_by, priority)
SELECT step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at,
    created_by, priority
FROM tasker_steps;

DROP TABLE tasker_steps;
ALTER TABLE tasker_steps_v6 RENAME TO tasker_steps;

-- As migration 5 made it: claims walk it in claim order.
CREATE INDEX tasker_steps_claimable ON tasker_steps (claim_order, ready_at, step_uuid)
    WHERE state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_leased ON tasker_steps (lease_until)
    WHERE state = 'in_progress';

CREATE INDEX tasker_steps_signal_deadline ON tasker_steps (ready_at)
    WHERE state = 'waiting_for_signal' AND ready_at IS NOT NULL;

CREATE TABLE tasker_signals (
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    step_name TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    applied_at INTEGER,
    PRIMARY KEY (task_uuid, step_name)
) WITHOUT ROWID;
