-- Task metadata (docs/task-metadata.md): every task has a correlation id (the caller's, or a
-- UUID v7 generated when it gives none; tasks created before this migration get their own
-- task uuid), and optionally a parent correlation id, an initiator, a source system, a reason
-- and tags. The tags are kept twice: as a JSON array on the task, in the order given (what task
-- views and step payloads show), and one row per tag in tasker_task_tags (what filtering by tag
-- uses).
--
-- Identity (docs/identity.md): a task created from a template whose identity_strategy is
-- `strict`, without an idempotency key, has identity_hash, the sha256 of its template key and
-- its canonical context; a second such task with the same hash is a duplicate.
ALTER TABLE tasker_tasks ADD COLUMN correlation_id TEXT NOT NULL DEFAULT '';
UPDATE tasker_tasks SET correlation_id = task_uuid;
ALTER TABLE tasker_tasks ADD COLUMN parent_correlation_id TEXT;
ALTER TABLE tasker_tasks ADD COLUMN initiator TEXT;
ALTER TABLE tasker_tasks ADD COLUMN source_system TEXT;
ALTER TABLE tasker_tasks ADD COLUMN reason TEXT;
ALTER TABLE tasker_tasks ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasker_tasks ADD COLUMN identity_hash TEXT;

CREATE INDEX tasker_tasks_correlation
    ON tasker_tasks (correlation_id, created_at DESC, task_uuid DESC);
CREATE INDEX tasker_tasks_parent_correlation
    ON tasker_tasks (parent_correlation_id, created_at DESC, task_uuid DESC)
    WHERE parent_correlation_id IS NOT NULL;
CREATE UNIQUE INDEX tasker_tasks_identity
    ON tasker_tasks (namespace, name, version, identity_hash)
    WHERE identity_hash IS NOT NULL;

CREATE TABLE tasker_task_tags (
    task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (task_uuid, tag)
) WITHOUT ROWID;
CREATE INDEX tasker_task_tags_tag ON tasker_task_tags (tag, task_uuid);
