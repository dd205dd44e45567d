-- A claimed step receives the results of its dependencies: the steps of its task whose template
-- step it names in `dependencies:` (every worker of a batch-worker template), found through this
-- index instead of by walking the edges to every ancestor (docs/handlers.md).
CREATE INDEX tasker_steps_template_step ON tasker_steps (task_uuid, template_step_name);
