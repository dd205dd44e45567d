-- Signal steps (issue 10): a step of type `signal` has no handler; once its dependencies are
-- done it is `waiting_for_signal` until a signal sent to it completes it.
-- * Steps get the type `signal` and the state `waiting_for_signal`. A waiting step's `ready_at`
--   is its deadline (NULL: it waits for ever), set from `signal_timeout_ms` when it starts
--   waiting; the timeout sweep walks the deadline index.
-- * `signals` keeps every signal received, one per (task, step name): a signal sent before its
--   step waits is kept there and applied when the step starts waiting (`applied_at` set).

ALTER TABLE steps DROP CONSTRAINT steps_state_check;
ALTER TABLE steps ADD CONSTRAINT steps_state_check CHECK (state IN
    ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
     'resolved_manually', 'waiting_for_signal')) NOT VALID;
ALTER TABLE steps VALIDATE CONSTRAINT steps_state_check;

ALTER TABLE steps DROP CONSTRAINT steps_step_type_check;
ALTER TABLE steps ADD CONSTRAINT steps_step_type_check CHECK (step_type IN
    ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker', 'signal'))
    NOT VALID;
ALTER TABLE steps VALIDATE CONSTRAINT steps_step_type_check;

ALTER TABLE transitions DROP CONSTRAINT transitions_check;
ALTER TABLE transitions ADD CONSTRAINT transitions_check CHECK (CASE WHEN step_uuid IS NULL
    THEN to_state IN ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled'))
    ELSE to_state IN ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
            'cancelled', 'resolved_manually', 'waiting_for_signal')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
             'cancelled', 'resolved_manually', 'waiting_for_signal'))
    END) NOT VALID;
ALTER TABLE transitions VALIDATE CONSTRAINT transitions_check;

ALTER TABLE steps ADD COLUMN signal_timeout_ms bigint;

CREATE INDEX steps_signal_deadline ON steps (ready_at)
    WHERE state = 'waiting_for_signal' AND ready_at IS NOT NULL;

CREATE TABLE signals (
    task_uuid uuid NOT NULL REFERENCES tasks (task_uuid) ON DELETE CASCADE,
    step_name text NOT NULL,
    payload json NOT NULL,
    received_at timestamptz NOT NULL,
    applied_at timestamptz,
    PRIMARY KEY (task_uuid, step_name)
);
