-- Task metadata (docs/task-metadata.md): every task has a correlation id (the caller's, or a
-- UUID v7 generated when it gives none; tasks created before this migration get their own
-- task uuid), and optionally a parent correlation id, an initiator, a source system, a reason
-- and tags. The tags are kept twice: as a JSON array on the task, in the order given (what task
-- views and step payloads show), and one row per tag in task_tags (what filtering by tag uses).
--
-- Identity (docs/identity.md): a task created from a template whose identity_strategy is
-- `strict`, without an idempotency key, has identity_hash, the sha256 of its template key and
-- its canonical context; a second such task with the same hash is a duplicate.
ALTER TABLE tasks ADD COLUMN correlation_id text;
UPDATE tasks SET correlation_id = task_uuid::text;
ALTER TABLE tasks ALTER COLUMN correlation_id SET NOT NULL;
ALTER TABLE tasks ADD COLUMN parent_correlation_id text;
ALTER TABLE tasks ADD COLUMN initiator text;
ALTER TABLE tasks ADD COLUMN source_system text;
ALTER TABLE tasks ADD COLUMN reason text;
ALTER TABLE tasks ADD COLUMN tags json NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN identity_hash text;

CREATE INDEX tasks_correlation ON tasks (correlation_id, created_at DESC, task_uuid DESC);
CREATE INDEX tasks_parent_correlation ON tasks (parent_correlation_id, created_at DESC, task_uuid DESC)
    WHERE parent_correlation_id IS NOT NULL;
CREATE UNIQUE INDEX tasks_identity
    ON tasks (namespace, name, version, identity_hash)
    WHERE identity_hash IS NOT NULL;

CREATE TABLE task_tags (
    task_uuid uuid NOT NULL REFERENCES tasks (task_uuid) ON DELETE CASCADE,
    tag text NOT NULL,
    PRIMARY KEY (task_uuid, tag)
);
CREATE INDEX task_tags_tag ON task_tags (tag, task_uuid);
