-- Operator recovery and delayed starts.
-- * Steps (and step transitions) get the state `resolved_manually`: an operator completed the
--   step by hand. The new constraints are added NOT VALID and validated separately, so that
--   validating them does not block writers on a large table.
-- * Tasks keep the trace context of whoever created them (W3C `traceparent`/`tracestate` as
--   JSON text), so that step spans join the creator's trace.

ALTER TABLE steps DROP CONSTRAINT steps_state_check;
ALTER TABLE steps ADD CONSTRAINT steps_state_check CHECK (state IN
    ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
     'resolved_manually')) NOT VALID;
ALTER TABLE steps VALIDATE CONSTRAINT steps_state_check;

ALTER TABLE transitions DROP CONSTRAINT transitions_check;
ALTER TABLE transitions ADD CONSTRAINT transitions_check CHECK (CASE WHEN step_uuid IS NULL
    THEN to_state IN ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled'))
    ELSE to_state IN ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
            'cancelled', 'resolved_manually')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
             'cancelled', 'resolved_manually'))
    END) NOT VALID;
ALTER TABLE transitions VALIDATE CONSTRAINT transitions_check;

ALTER TABLE tasks ADD COLUMN trace_context text;

-- Pruning walks finished tasks by the time they finished.
CREATE INDEX tasks_finished ON tasks (completed_at) WHERE completed_at IS NOT NULL;
