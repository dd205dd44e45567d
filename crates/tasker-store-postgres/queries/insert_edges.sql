INSERT INTO step_edges (from_step, to_step)
SELECT * FROM unnest($1::uuid[], $2::uuid[])
