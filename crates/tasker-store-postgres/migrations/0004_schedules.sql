-- Schedules (cron): one row per schedule name, upserted by every worker that defines it.
-- `last_fire_at` is the latest fire time handled (a task was created for it, or the missed-fire
-- policy skipped it); NULL until the first, when fire times count from `created_at`. A worker
-- fires by advancing it with a compare-and-set in the transaction that creates the task, so
-- each fire time creates one task whichever processes race for it.
CREATE TABLE schedules (
    name text PRIMARY KEY,
    cron text NOT NULL,
    timezone text NOT NULL,
    namespace text NOT NULL,
    task_name text NOT NULL,
    version text NOT NULL,
    context json NOT NULL,
    missed text NOT NULL CHECK (missed IN ('latest', 'skip', 'all')),
    last_fire_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
