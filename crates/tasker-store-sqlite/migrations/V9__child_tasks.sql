-- Child tasks (issue 10, docs/child-tasks.md): a step of type `subtask` has no handler; once its
-- dependencies are done it is `waiting_for_child` while a task of another template runs.
-- * Steps get the type `subtask` and the state `waiting_for_child` (the table is rebuilt, as in
--   migration 6: SQLite cannot change a CHECK constraint in place), and `child_task_uuid`, the
--   child its current attempt started (NULL until the child is created). The rebuild keeps
--   migration 5's priority and claim order, migration 6's signal timeout and migration 8's
--   limit columns, with all their indexes.
-- * A child task records its parent task and step, and how deep it is (0: no parent).

CREATE TABLE tasker_steps_v9 (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_step_name TEXT NOT NULL,
    handler_callable TEXT NOT NULL,
    step_type TEXT NOT NULL CHECK (step_type IN
        ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker', 'signal',
         'subtask')),
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
         'resolved_manually', 'waiting_for_signal', 'waiting_for_child')),
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
    limit_key TEXT,
    limit_concurrency INTEGER,
    limit_per_second REAL,
    limit_burst INTEGER,
    child_task_uuid TEXT,
    UNIQUE (task_uuid, name)
);

INSERT INTO tasker_steps_v9 (step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at,
    created_by, priority, signal_timeout_ms, limit_key, limit_concurrency, limit_per_second,
    limit_burst)
SELECT step_uuid, task_uuid, name, template_step_name, handler_callable,
    step_type, state, dep_total, pending_deps, attempts, max_attempts, ready_at, lease_until,
    claim_id, claimed_by, inputs, result, error, metadata, checkpoint, created_at, updated_at,
    created_by, priority, signal_timeout_ms, limit_key, limit_concurrency, limit_per_second,
    limit_burst
FROM tasker_steps;

DROP TABLE tasker_steps;
ALTER TABLE tasker_steps_v9 RENAME TO tasker_steps;

-- As migrations 5, 6 and 8 made them.
CREATE INDEX tasker_steps_claimable ON tasker_steps (claim_order, ready_at, step_uuid)
    WHERE state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_leased ON tasker_steps (lease_until)
    WHERE state = 'in_progress';
CREATE INDEX tasker_steps_signal_deadline ON tasker_steps (ready_at)
    WHERE state = 'waiting_for_signal' AND ready_at IS NOT NULL;
CREATE INDEX tasker_steps_limited ON tasker_steps (claim_order, ready_at, step_uuid)
    WHERE limit_key IS NOT NULL AND state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_limit_running ON tasker_steps (limit_key)
    WHERE limit_key IS NOT NULL AND state = 'in_progress';

-- The child sweep walks the subtask steps that wait (for a child, or out a backoff).
CREATE INDEX tasker_steps_subtask_waiting ON tasker_steps (ready_at)
    WHERE step_type = 'subtask' AND state IN ('waiting_for_child', 'waiting_for_retry');

ALTER TABLE tasker_tasks ADD COLUMN parent_task_uuid TEXT;
ALTER TABLE tasker_tasks ADD COLUMN parent_step_uuid TEXT;
ALTER TABLE tasker_tasks ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
-- A parent's children (getTask), and the unfinished children (the orphan sweep).
CREATE INDEX tasker_tasks_parent ON tasker_tasks (parent_task_uuid)
    WHERE parent_task_uuid IS NOT NULL;
CREATE INDEX tasker_tasks_open_children ON tasker_tasks (parent_step_uuid)
    WHERE parent_step_uuid IS NOT NULL
        AND state NOT IN ('complete', 'error', 'cancelled');
