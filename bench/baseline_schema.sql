-- Schema of the pgbench baseline (bench/README.md), loaded into the scratch
-- database tally_bench_baseline by run_ledger_bench.sh:
--   psql -v naccounts=N -v initial=C -f bench/baseline_schema.sql
-- The ledger's two tables (DESIGN "The ledger"), reduced to what one spend
-- touches: the projection with its CHECK, and the journal with its gapless
-- per-account sequence and per-account idempotency key.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS entries;
DROP TABLE IF EXISTS accounts;

CREATE TABLE accounts (
  account_id  bigint PRIMARY KEY,
  available   bigint NOT NULL CHECK (available >= 0),
  reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  last_seq    bigint NOT NULL
);

CREATE TABLE entries (
  account_id       bigint      NOT NULL,
  seq              bigint      NOT NULL,
  kind             text        NOT NULL,
  delta            bigint      NOT NULL,
  available_after  bigint      NOT NULL,
  reserved_after   bigint      NOT NULL,
  idempotency_key  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, seq)
);
CREATE UNIQUE INDEX entries_idempotency ON entries (account_id, idempotency_key);

-- Every account opens with one journaled grant, as the engine's accounts do.
INSERT INTO accounts (account_id, available, reserved, last_seq)
SELECT n, :initial, 0, 1 FROM generate_series(1, :naccounts) AS n;
INSERT INTO entries (account_id, seq, kind, delta, available_after, reserved_after,
                     idempotency_key)
SELECT n, 1, 'grant', :initial, :initial, 0, 'grant-' || n FROM generate_series(1, :naccounts) AS n;

VACUUM ANALYZE accounts;
VACUUM ANALYZE entries;
