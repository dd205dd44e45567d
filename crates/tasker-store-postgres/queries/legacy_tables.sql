-- Tables of tasker-node 0.1 (it kept its own migration table and an incompatible layout).
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relname IN ('tasker_migrations', 'tasker_templates',
    'tasker_tasks', 'tasker_steps', 'tasker_step_edges', 'tasker_transitions')
ORDER BY n.nspname, array_position(ARRAY['tasker_migrations', 'tasker_transitions',
    'tasker_step_edges', 'tasker_steps', 'tasker_tasks', 'tasker_templates']::name[], c.relname)
