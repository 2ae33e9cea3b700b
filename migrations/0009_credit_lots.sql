-- Expiring grants (docs/ledger.md "Expiring grants"): one credit lot per grant that has an
-- expires_at. `remaining` is the part of the lot still in the account's `available`; credits a
-- pending reservation took from it are in that reservation's `lots`. Rows change only in the
-- journal transaction that writes the entry changing them.
CREATE TABLE ledger.credit_lots (
  lot_id      uuid        PRIMARY KEY,  -- the grant's entry_id
  account_id  uuid        NOT NULL REFERENCES ledger.accounts (account_id),
  grant_seq   bigint      NOT NULL CHECK (grant_seq > 0),  -- burn-order tie-break
  amount      bigint      NOT NULL CHECK (amount > 0),
  remaining   bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The sweep: lots with something left to expire, by expiry.
CREATE INDEX credit_lots_sweep ON ledger.credit_lots (expires_at) WHERE remaining > 0;
-- The account's load: its lots with something left.
CREATE INDEX credit_lots_account ON ledger.credit_lots (account_id) WHERE remaining > 0;

-- A reservation's allocation: [{"lot_id": "...", "amount": N}, ...] in burn order, the lot
-- credits it holds (the rest of its amount is perpetual). Returned to those lots on release,
-- expiry or the uncharged part of a commit.
ALTER TABLE ledger.reservations ADD COLUMN lots jsonb NOT NULL DEFAULT '[]';
