-- Child tasks $1 created for the steps $3 of the tasks $2: each child is one deeper than its
-- parent, and each step records its child and counts one more attempt.
WITH l AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
        AS l (child_task_uuid, parent_task_uuid, parent_step_uuid)
), linked AS (
    UPDATE tasks c SET parent_task_uuid = l.parent_task_uuid,
        parent_step_uuid = l.parent_step_uuid, depth = p.depth + 1
    FROM l JOIN tasks p ON p.task_uuid = l.parent_task_uuid
    WHERE c.task_uuid = l.child_task_uuid
)
UPDATE steps s SET child_task_uuid = l.child_task_uuid, attempts = s.attempts + 1,
    updated_at = now()
FROM l
WHERE s.step_uuid = l.parent_step_uuid
