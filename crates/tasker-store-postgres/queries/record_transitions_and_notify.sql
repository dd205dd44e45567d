-- Sent just before COMMIT: the transaction's audit rows (numbered in the order given; unnest
-- yields them in array order) and its notifications, in one round trip. Nothing in a
-- transaction reads the transitions it writes, so they can wait until here.
WITH written AS (
    INSERT INTO transitions (task_uuid, step_uuid, from_state, to_state, at, worker_id, reason)
    SELECT i.task_uuid, i.step_uuid, i.from_state, i.to_state, now(), i.worker_id, i.reason
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS i (task_uuid, step_uuid, from_state, to_state, worker_id, reason)
)
SELECT pg_notify($7, p) FROM unnest($8::text[]) AS p
