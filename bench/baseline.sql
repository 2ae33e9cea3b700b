-- pgbench script of the baseline (bench/README.md; DESIGN "The performance
-- budget"): the same durable work as one engine spend, one transaction per
-- spend. Variables: naccounts, amount (pgbench -D). Tables: baseline_schema.sql.
-- The debit is conditional, like the engine's: it never takes available below
-- zero (the schema's grant is sized so that it never has to refuse).
\set aid random(1, :naccounts)
BEGIN;
UPDATE accounts SET available = available - :amount, last_seq = last_seq + 1
 WHERE account_id = :aid AND available >= :amount
 RETURNING last_seq, available, reserved \gset
INSERT INTO entries (account_id, seq, kind, delta, available_after, reserved_after, idempotency_key)
VALUES (:aid, :last_seq, 'spend', 0 - :amount, :available, :reserved, md5(random()::text));
COMMIT;
