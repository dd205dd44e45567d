-- A round trip that touches no table (health checks).
SELECT 1::int8
