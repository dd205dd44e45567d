-- The dashboard's activity chart counts the step executions that ended in the last hour:
-- a partial index on the time of those transitions only (one row per execution, not per
-- change).
CREATE INDEX transitions_ended ON transitions (at)
    WHERE step_uuid IS NOT NULL
        AND to_state IN ('complete', 'resolved_manually', 'error', 'waiting_for_retry');

-- Which decision or batchable step's outcome created a step (NULL: created with its task). No
-- foreign key: both rows go with their task.
ALTER TABLE steps ADD COLUMN created_by uuid;
