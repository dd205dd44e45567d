-- One notification per payload (a transaction's signals, split to stay under NOTIFY's limit).
SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p
