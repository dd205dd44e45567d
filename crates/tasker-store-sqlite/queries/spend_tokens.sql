-- Take ?2 tokens from the bucket of limit key ?1 (one per claimed step).
UPDATE tasker_limits SET tokens = tokens - ?2 WHERE key = ?1 AND tokens IS NOT NULL
