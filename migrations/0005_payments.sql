-- Payments context (DESIGN "Purchases and gateways"): credit packages, the
-- purchases made through a gateway, and the Idempotency-Key records of
-- POST /v1/purchases. No foreign keys to other schemas (bounded contexts):
-- user ids are the identity context's, grant entry ids the ledger's.
CREATE SCHEMA IF NOT EXISTS payments;

-- What a user can buy. The price is in the currency's minor unit (THB satang).
CREATE TABLE payments.packages (
  package_id    text        PRIMARY KEY CHECK (package_id ~ '^[a-z0-9_-]{1,64}$'),
  name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  credits       bigint      NOT NULL CHECK (credits > 0 AND credits <= 1000000000),
  price_amount  bigint      NOT NULL CHECK (price_amount > 0 AND price_amount <= 100000000000),
  currency      text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  active        boolean     NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A sensible default set (THB, the Omise-first market): ฿99, ฿449, ฿1,599.
INSERT INTO payments.packages (package_id, name, credits, price_amount, currency) VALUES
  ('pkg_starter', 'Starter', 100, 9900, 'THB'),
  ('pkg_standard', 'Standard', 500, 44900, 'THB'),
  ('pkg_pro', 'Pro', 2000, 159900, 'THB');

-- One purchase of one package. The price and credits are copied at purchase
-- time: a later price change never changes what was paid for (invariant 5).
-- State moves only through the purchase actor's settle path; a terminal
-- success is never downgraded (domain/payments.hpp).
CREATE TABLE payments.purchases (
  purchase_id      uuid        PRIMARY KEY,
  user_id          uuid        NOT NULL,
  package_id       text        NOT NULL REFERENCES payments.packages (package_id),
  credits          bigint      NOT NULL CHECK (credits > 0),
  amount           bigint      NOT NULL CHECK (amount > 0),
  currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  gateway          text        NOT NULL CHECK (gateway IN ('omise', 'stripe', 'sandbox')),
  method           text        NOT NULL CHECK (method IN ('card', 'promptpay')),
  charge_id        text,
  status           text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'completed', 'failed', 'expired',
                                                 'refunded')),
  failure_code     text,
  failure_message  text,
  next_action      jsonb,
  -- The Idempotency-Key scope ("purchase:<client key>") that created it.
  idempotency_key  text        NOT NULL,
  grant_entry_id   uuid,       -- the ledger entry that credited it
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  CHECK (status <> 'completed' OR (completed_at IS NOT NULL AND grant_entry_id IS NOT NULL))
);
-- A charge belongs to one purchase (research gateways.md §4.1, §4.3).
CREATE UNIQUE INDEX purchases_charge ON payments.purchases (gateway, charge_id)
  WHERE charge_id IS NOT NULL;
-- The caller's list, newest first (keyset pagination on (created_at, purchase_id)).
CREATE INDEX purchases_user ON payments.purchases (user_id, created_at DESC, purchase_id DESC);
-- The missed-webhook sweep and the stale query.
CREATE INDEX purchases_pending ON payments.purchases (created_at) WHERE status = 'pending';

-- Idempotency-Key records of POST /v1/purchases, scoped per user and endpoint.
-- While the first request runs, the row is claimed by the Postgres backend of
-- the worker that began it (pid + backend_start): a second request with the
-- key is 409 while that backend lives. When the process dies its connections
-- close, the claim is dead, and a retry resumes the purchase (reconciling with
-- the gateway first). Once answered, the response is kept for replay. Rows are
-- kept at least 24 hours, then pruned.
CREATE TABLE payments.idempotency_keys (
  user_id               uuid        NOT NULL,
  idempotency_key       text        NOT NULL,
  request_sha256        text        NOT NULL,
  purchase_id           uuid        NOT NULL,
  claim_pid             integer,
  claim_backend_start   timestamptz,
  response_code         text,       -- '' for 201, else the errc name (payment_failed)
  response_view         jsonb,      -- the purchase as first answered
  created_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON payments.idempotency_keys (created_at);
