-- Events out (DESIGN "Events out", docs/events.md): one transactional outbox
-- per context, in that context's own schema (it must commit with the change,
-- and contexts may live in separate databases), and the events context's own
-- tables: subscriber endpoints, deliveries and their attempts.

-- ledger.outbox: ONE row per journal entry, inserted by the journal writer in
-- the same statement or transaction as the entry. The relay joins it with
-- ledger.entries (same schema) to build balance.updated, credits.*,
-- reservation.* and balance.low, so the hot path pays one narrow insert.
CREATE TABLE ledger.outbox (
  outbox_id     bigserial   PRIMARY KEY,
  account_id    uuid        NOT NULL,
  seq           bigint      NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
-- The relay's queue: only unpublished rows are in it (published rows stay for
-- the retention window, for Last-Event-ID resume, and are pruned after it).
CREATE INDEX outbox_unpublished ON ledger.outbox (outbox_id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON ledger.outbox (published_at) WHERE published_at IS NOT NULL;

-- Payments and workflows write whole events (persistence/outbox.hpp,
-- append_event) inside their own transactions.
CREATE SCHEMA IF NOT EXISTS payments;
CREATE SCHEMA IF NOT EXISTS workflows;

CREATE TABLE payments.outbox (
  outbox_id     bigserial   PRIMARY KEY,
  event_id      uuid        NOT NULL UNIQUE,
  type          text        NOT NULL,
  subject       text        NOT NULL,
  user_id       uuid        NOT NULL,
  data          jsonb       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON payments.outbox (outbox_id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON payments.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_user ON payments.outbox (user_id, outbox_id);  -- SSE resume

CREATE TABLE workflows.outbox (
  outbox_id     bigserial   PRIMARY KEY,
  event_id      uuid        NOT NULL UNIQUE,
  type          text        NOT NULL,
  subject       text        NOT NULL,
  user_id       uuid        NOT NULL,
  data          jsonb       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON workflows.outbox (outbox_id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON workflows.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_user ON workflows.outbox (user_id, outbox_id);  -- SSE resume

CREATE SCHEMA IF NOT EXISTS events;

-- Subscriber endpoints (POST /v1/admin/webhook-endpoints). The signing secret
-- is kept because every delivery is signed with it; it is returned once, at
-- creation, and never logged.
CREATE TABLE events.endpoints (
  endpoint_id      uuid        PRIMARY KEY,
  url              text        NOT NULL,
  event_types      text[]      NOT NULL,  -- empty: every type
  secret           text        NOT NULL,  -- whsec_<base64 of 32 random bytes>
  status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  disabled_reason  text,
  failing_since    timestamptz,            -- first failure since the last success
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One message to one endpoint. `position` orders an endpoint's deliveries
-- (the relay inserts them in outbox order); the head pending delivery of an
-- endpoint blocks the ones behind it (in-order delivery).
CREATE TABLE events.deliveries (
  delivery_id      uuid        PRIMARY KEY,
  position         bigserial   NOT NULL,
  endpoint_id      uuid        NOT NULL REFERENCES events.endpoints ON DELETE CASCADE,
  message_id       text        NOT NULL,  -- webhook-id = the CloudEvent id, same on every retry
  event_type       text        NOT NULL,
  payload          text        NOT NULL,  -- the exact body signed and sent
  status           text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer     NOT NULL DEFAULT 0,
  manual           boolean     NOT NULL DEFAULT false,  -- a replay: one attempt, no retries
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status_code integer,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  UNIQUE (endpoint_id, message_id)
);
CREATE INDEX deliveries_pending ON events.deliveries (endpoint_id, position)
  WHERE status = 'pending';
CREATE INDEX deliveries_page ON events.deliveries (endpoint_id, created_at DESC, delivery_id DESC);

-- Every attempt of a delivery (the delivery log).
CREATE TABLE events.delivery_attempts (
  attempt_id        bigserial   PRIMARY KEY,
  delivery_id       uuid        NOT NULL REFERENCES events.deliveries ON DELETE CASCADE,
  attempt           integer     NOT NULL,
  trigger           text        NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
  at                timestamptz NOT NULL DEFAULT now(),
  status_code       integer,              -- null: no answer (timeout, refused, blocked)
  error             text,                 -- errc name when there was no answer
  response_excerpt  text,                 -- at most events.response_excerpt_max bytes
  latency_ms        integer     NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON events.delivery_attempts (delivery_id, attempt_id);

-- Per-user low-balance thresholds (balance.low); users without a row use the
-- configured default.
CREATE TABLE events.balance_thresholds (
  user_id    uuid    PRIMARY KEY,
  threshold  bigint  NOT NULL CHECK (threshold >= 0)
);
