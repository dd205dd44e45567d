-- Operator recovery and delayed starts.
-- * Steps get the state `resolved_manually` (an operator completed the step by hand). SQLite
--   cannot change a CHECK constraint in place, so the steps table is rebuilt (the documented
--   procedure: new table, copy, drop, rename; the driver runs migrations with foreign keys
--   off, so dropping the old table cascades to nothing, and checks the keys afterwards).
-- * Tasks keep the trace context of whoever created them (W3C `traceparent`/`tracestate` as
--   JSON text), so that step spans join the creator's trace.

CREATE TABLE tasker_steps_v2 (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_step_name TEXT NOT NULL,
    handler_callable TEXT NOT NULL,
    step_type TEXT NOT NULL CHECK (step_type IN
        ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker')),
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
         'resolved_manually')),
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
    UNIQUE (task_uuid, name)
);

INSERT INTO tasker_steps_v2 (step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at)
SELECT step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at
FROM tasker_steps;

DROP TABLE tasker_steps;
ALTER TABLE tasker_steps_v2 RENAME TO tasker_steps;

CREATE INDEX tasker_steps_claimable ON tasker_steps (ready_at)
    WHERE state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_leased ON tasker_steps (lease_until)
    WHERE state = 'in_progress';

ALTER TABLE tasker_tasks ADD COLUMN trace_context TEXT;

-- Pruning walks finished tasks by the time they finished.
CREATE INDEX tasker_tasks_finished ON tasker_tasks (completed_at)
    WHERE completed_at IS NOT NULL;
