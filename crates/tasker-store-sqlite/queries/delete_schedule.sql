DELETE FROM tasker_schedules WHERE name = ?1
