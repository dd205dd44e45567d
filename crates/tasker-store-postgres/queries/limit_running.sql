-- Steps of limit key $1 in progress (run after its limits row is locked: a new snapshot sees
-- every claim committed before the lock was granted).
SELECT count(*) FROM steps WHERE limit_key = $1 AND state = 'in_progress'
