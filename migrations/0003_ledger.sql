-- Ledger context (DESIGN "The ledger"): the projection (accounts), the
-- write-ahead journal (entries) and credit holds (reservations).
CREATE SCHEMA IF NOT EXISTS ledger;

-- One row per account (an account's id is its user's id). The projection of
-- the journal: replaying entries gives exactly these numbers (invariant 2).
CREATE TABLE ledger.accounts (
  account_id  uuid        PRIMARY KEY,
  available   bigint      NOT NULL DEFAULT 0 CHECK (available >= 0),
  reserved    bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  last_seq    bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Append-only journal with a gapless per-account sequence. Every write to an
-- account is conditional on its last_seq, so two writers can never both
-- append seq N.
CREATE TABLE ledger.entries (
  account_id       uuid        NOT NULL,
  seq              bigint      NOT NULL CHECK (seq > 0),
  entry_id         uuid        NOT NULL UNIQUE,
  kind             text        NOT NULL CHECK (kind IN ('purchase', 'grant', 'spend', 'reserve',
                                'commit', 'release', 'expire', 'refund', 'adjustment')),
  amount           bigint      NOT NULL CHECK (amount >= 0),
  delta_available  bigint      NOT NULL,
  delta_reserved   bigint      NOT NULL,
  available_after  bigint      NOT NULL CHECK (available_after >= 0),
  reserved_after   bigint      NOT NULL CHECK (reserved_after >= 0),
  reference_type   text,
  reference_id     text,
  -- Scoped per account and endpoint ("spend:<client key>"); the request's
  -- fingerprint decides between replay and 422 idempotency_key_reused.
  idempotency_key  text,
  request_sha256   text,
  metadata         jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, seq)
);
CREATE UNIQUE INDEX entries_idempotency ON ledger.entries (account_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX entries_kind ON ledger.entries (account_id, kind, seq);

CREATE TABLE ledger.reservations (
  reservation_id    uuid        PRIMARY KEY,
  account_id        uuid        NOT NULL,
  amount            bigint      NOT NULL CHECK (amount > 0),
  committed_amount  bigint      NOT NULL DEFAULT 0 CHECK (committed_amount >= 0),
  status            text        NOT NULL CHECK (status IN ('pending', 'committed', 'released',
                                                           'expired')),
  expires_at        timestamptz NOT NULL,
  reference_type    text,
  reference_id      text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (committed_amount <= amount)
);
CREATE INDEX reservations_pending_expiry ON ledger.reservations (expires_at)
  WHERE status = 'pending';
CREATE INDEX reservations_account ON ledger.reservations (account_id, status);
