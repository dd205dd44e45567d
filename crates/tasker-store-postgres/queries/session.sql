-- Run once on every new pooled connection (one round trip per connection, none per
-- transaction). Unqualified names resolve in the store's schema.
--
-- No bitmap or sequential scans: every statement of the driver is an index lookup or an
-- ordered walk of an index, and the claim must walk steps_claimable in ready order and stop
-- after N rows whatever the statistics say. With stale statistics (ANALYZE on an empty table,
-- or before a new callable's steps arrived) the planner estimated 1-63 claimable rows and chose
-- a bitmap scan, or with bitmap scans off a sequential scan, plus a sort of all ~20,000
-- claimable rows: 6.6-7.5 ms per claim instead of 0.15 ms. The settings only add a cost to
-- those plans; where no index applies they are still used.
SET search_path TO /*schema*/;
SET enable_bitmapscan = off;
SET enable_seqscan = off
