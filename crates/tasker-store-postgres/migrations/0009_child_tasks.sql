-- Child tasks (issue 10, docs/child-tasks.md): a step of type `subtask` has no handler; once its
-- dependencies are done it is `waiting_for_child` while a task of another template runs.
-- * Steps get the type `subtask`, the state `waiting_for_child`, and `child_task_uuid`: the child
--   its current attempt started (NULL until the child is created).
-- * A child task records its parent task and step, and how deep it is (0: no parent). There is
--   no foreign key to the parent: pruning a finished parent leaves its finished children.

ALTER TABLE steps DROP CONSTRAINT steps_state_check;
ALTER TABLE steps ADD CONSTRAINT steps_state_check CHECK (state IN
    ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled',
     'resolved_manually', 'waiting_for_signal', 'waiting_for_child')) NOT VALID;
ALTER TABLE steps VALIDATE CONSTRAINT steps_state_check;

ALTER TABLE steps DROP CONSTRAINT steps_step_type_check;
ALTER TABLE steps ADD CONSTRAINT steps_step_type_check CHECK (step_type IN
    ('standard', 'decision', 'deferred_convergence', 'batchable', 'batch_worker', 'signal',
     'subtask')) NOT VALID;
ALTER TABLE steps VALIDATE CONSTRAINT steps_step_type_check;

ALTER TABLE transitions DROP CONSTRAINT transitions_check;
ALTER TABLE transitions ADD CONSTRAINT transitions_check CHECK (CASE WHEN step_uuid IS NULL
    THEN to_state IN ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'steps_in_process', 'waiting_for_retry', 'complete', 'error', 'cancelled'))
    ELSE to_state IN ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
            'cancelled', 'resolved_manually', 'waiting_for_signal', 'waiting_for_child')
        AND (from_state IS NULL OR from_state IN
            ('pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'complete', 'error',
             'cancelled', 'resolved_manually', 'waiting_for_signal', 'waiting_for_child'))
    END) NOT VALID;
ALTER TABLE transitions VALIDATE CONSTRAINT transitions_check;

ALTER TABLE steps ADD COLUMN child_task_uuid uuid;

-- The child sweep walks the subtask steps that wait (for a child, or out a backoff).
CREATE INDEX steps_subtask_waiting ON steps (ready_at)
    WHERE step_type = 'subtask' AND state IN ('waiting_for_child', 'waiting_for_retry');

ALTER TABLE tasks ADD COLUMN parent_task_uuid uuid;
ALTER TABLE tasks ADD COLUMN parent_step_uuid uuid;
ALTER TABLE tasks ADD COLUMN depth integer NOT NULL DEFAULT 0;
-- A parent's children (getTask), and the unfinished children (the orphan sweep).
CREATE INDEX tasks_parent ON tasks (parent_task_uuid) WHERE parent_task_uuid IS NOT NULL;
CREATE INDEX tasks_open_children ON tasks (parent_step_uuid)
    WHERE parent_step_uuid IS NOT NULL AND state NOT IN ('complete', 'error', 'cancelled');
