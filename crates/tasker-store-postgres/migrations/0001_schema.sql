-- tasker schema for PostgreSQL. The driver runs this with `search_path` set to the configured
-- schema (`tasker` unless PgOptions.schema says otherwise), so every name here is unqualified.
--
-- Ids are `uuid`, times `timestamptz` taken from the database clock, counters `integer`.
-- Deleting a task deletes its steps, their edges and its transitions (ON DELETE CASCADE).
--
-- JSON columns (context, inputs, result, error, metadata, checkpoint, definition) are `json`,
-- NOT `jsonb`, on purpose: `json` keeps exactly the text the handler produced, while `jsonb`
-- rejects `\u0000` and lone surrogates such as "\ud800" (both of which `JSON.stringify` can
-- produce, and which tasker must accept) and reorders and deduplicates object keys. The `->`
-- and `->>` operators work on `json` too, e.g. `SELECT context->>'order_id' FROM tasks` (not
-- on a document that contains `\u0000`: PostgreSQL text cannot hold that character).

CREATE TABLE template_snapshots (
    digest text PRIMARY KEY,
    namespace text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    definition json NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE templates (
    namespace text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    digest text NOT NULL REFERENCES template_snapshots (digest),
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, name, version)
);

CREATE TABLE tasks (
    task_uuid uuid PRIMARY KEY,
    namespace text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    template_digest text NOT NULL REFERENCES template_snapshots (digest),
    state text NOT NULL CHECK (state IN
        ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')),
    context json NOT NULL,
    idempotency_key text,
    total_steps integer NOT NULL,
    completed_steps integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    completed_at timestamptz
);

CREATE UNIQUE INDEX tasks_idempotency
    ON tasks (namespace, name, version, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Listing tasks, newest first: all of them, by state, by namespace and name.
CREATE INDEX tasks_created ON tasks (created_at DESC, task_uuid DESC);
CREATE INDEX tasks_state ON tasks (state, created_at DESC, task_uuid DESC);
CREATE INDEX tasks_template ON tasks (namespace, name, created_at DESC, task_uuid DESC);

CREATE TABLE steps (
    step_uuid uuid PRIMARY KEY,
    task_uuid uuid NOT NULL REFERENCES tasks (task_uuid) ON DELETE CASCADE,
    name text NOT NULL,
    template_step_name text NOT NULL,
    handler_callable text NOT NULL,
    step_type text NOT NULL CHECK (step_type IN
        ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker')),
    state text NOT NULL CHECK (state IN
        ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled')),
    dep_total integer NOT NULL,
    pending_deps integer NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    ready_at timestamptz,
    lease_until timestamptz,
    claim_id uuid,
    claimed_by text,
    inputs json NOT NULL,
    result json,
    error json,
    metadata json,
    checkpoint json,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (task_uuid, name)
);

-- Claiming walks this index in ready order and stops after the first N rows it can lock;
-- reaping walks the lease index in lease order.
CREATE INDEX steps_claimable ON steps (ready_at)
    WHERE state IN ('enqueued', 'waiting_for_retry');
CREATE INDEX steps_leased ON steps (lease_until)
    WHERE state = 'in_progress';

CREATE TABLE step_edges (
    from_step uuid NOT NULL REFERENCES steps (step_uuid) ON DELETE CASCADE,
    to_step uuid NOT NULL REFERENCES steps (step_uuid) ON DELETE CASCADE,
    PRIMARY KEY (from_step, to_step)
);
CREATE INDEX step_edges_to ON step_edges (to_step);

-- The audit trail. A row with no step_uuid is a task transition. No foreign key to steps: a
-- transition outlives nothing but its task.
CREATE TABLE transitions (
    transition_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_uuid uuid NOT NULL REFERENCES tasks (task_uuid) ON DELETE CASCADE,
    step_uuid uuid,
    from_state text,
    to_state text NOT NULL,
    at timestamptz NOT NULL,
    worker_id text,
    reason text,
    CHECK (CASE WHEN step_uuid IS NULL
        THEN to_state IN ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')
            AND (from_state IS NULL OR from_state IN
                ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled'))
        ELSE to_state IN ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled')
            AND (from_state IS NULL OR from_state IN
                ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled'))
        END)
);
CREATE INDEX transitions_task ON transitions (task_uuid, transition_id);
