-- tasker schema for SQLite. SQLite has no schemas: the `tasker_` prefix plays that part.
-- Ids are TEXT uuids, times are INTEGER milliseconds since the Unix epoch (UTC), JSON is TEXT
-- kept exactly as written. Deleting a task deletes its steps, edges and transitions.

CREATE TABLE tasker_template_snapshots (
    digest TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tasker_templates (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES tasker_template_snapshots (digest),
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name, version)
);

CREATE TABLE tasker_tasks (
    task_uuid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    template_digest TEXT NOT NULL REFERENCES tasker_template_snapshots (digest),
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')),
    context TEXT NOT NULL,
    idempotency_key TEXT,
    total_steps INTEGER NOT NULL,
    completed_steps INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
);

CREATE UNIQUE INDEX tasker_tasks_idempotency
    ON tasker_tasks (namespace, name, version, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasker_tasks_created ON tasker_tasks (created_at DESC, task_uuid DESC);
CREATE INDEX tasker_tasks_state ON tasker_tasks (state, created_at DESC, task_uuid DESC);
CREATE INDEX tasker_tasks_template ON tasker_tasks (namespace, name, created_at DESC, task_uuid DESC);

CREATE TABLE tasker_steps (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_step_name TEXT NOT NULL,
    handler_callable TEXT NOT NULL,
    step_type TEXT NOT NULL CHECK (step_type IN
        ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker')),
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled')),
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

-- Claiming walks this index in ready order; reaping walks the lease index.
CREATE INDEX tasker_steps_claimable ON tasker_steps (ready_at)
    WHERE state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX tasker_steps_leased ON tasker_steps (lease_until)
    WHERE state = 'in_progress';

CREATE TABLE tasker_step_edges (
    from_step TEXT NOT NULL REFERENCES tasker_steps (step_uuid) ON DELETE CASCADE,
    to_step TEXT NOT NULL REFERENCES tasker_steps (step_uuid) ON DELETE CASCADE,
    PRIMARY KEY (from_step, to_step)
) WITHOUT ROWID;
CREATE INDEX tasker_step_edges_to ON tasker_step_edges (to_step);

CREATE TABLE tasker_transitions (
    transition_id INTEGER PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    step_uuid TEXT,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at INTEGER NOT NULL,
    worker_id TEXT,
    reason TEXT
);
CREATE INDEX tasker_transitions_task ON tasker_transitions (task_uuid, transition_id);
