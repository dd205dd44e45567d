-- Schedules (cron): one row per schedule name, upserted by every worker that defines it.
-- `last_fire_at` is the latest fire time handled (a task was created for it, or the missed-fire
-- policy skipped it); NULL until the first, when fire times count from `created_at`. A worker
-- fires by advancing it with a compare-and-set in the transaction that creates the task, so
-- each fire time creates one task whichever processes race for it. Times in ms since the epoch.
CREATE TABLE tasker_schedules (
    name TEXT PRIMARY KEY,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    namespace TEXT NOT NULL,
    task_name TEXT NOT NULL,
    version TEXT NOT NULL,
    context TEXT NOT NULL,
    missed TEXT NOT NULL CHECK (missed IN ('latest', 'skip', 'all')),
    last_fire_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
