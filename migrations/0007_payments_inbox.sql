-- Payments context: the durable inbox of gateway webhook events (DESIGN
-- "Webhooks in"). A receiver stores the raw event here and answers 200 only
-- after the insert committed; verifier workers claim due rows, confirm the
-- event with the gateway API and settle the purchase. The body is never
-- trusted for state: it is kept for audit, replay and debugging.
CREATE SCHEMA IF NOT EXISTS payments;

CREATE TABLE payments.inbox (
  id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  gateway         text        NOT NULL CHECK (gateway IN ('omise', 'stripe', 'sandbox')),
  event_id        text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
  event_key       text        NOT NULL DEFAULT '' CHECK (length(event_key) <= 100),
  -- What the (untrusted) body names; the verifier compares it with what the gateway returns.
  object_id       text        NOT NULL DEFAULT '' CHECK (length(object_id) <= 255),
  -- The body exactly as received (a JSON text: validated UTF-8). The receiver
  -- enforces TALLY_WEBHOOK_BODY_BYTES_MAX (256 KiB by default); this is that
  -- setting's upper bound.
  raw_body        text        NOT NULL CHECK (octet_length(raw_body) <= 1048576),
  -- Headers of interest (signature timestamp, user agent, content type); never credentials.
  headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  source_ip       text        NOT NULL DEFAULT '',
  request_id      text        NOT NULL DEFAULT '',
  status          text        NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'processing', 'verified', 'rejected', 'parked',
                                    'ignored')),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- A claim holds the row until lease_until; a verifier that dies mid-way is
  -- replaced by whichever node claims the row after the lease ran out.
  lease_until     timestamptz,
  lease_owner     text        NOT NULL DEFAULT '',
  last_error      text        NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
  purchase_id     text        NOT NULL DEFAULT '',
  charge_id       text        NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (gateway, event_id),
  CHECK (status <> 'processing' OR lease_until IS NOT NULL)
);

-- The claim query: due received rows, and processing rows whose lease ran out.
CREATE INDEX inbox_due ON payments.inbox (next_attempt_at) WHERE status = 'received';
CREATE INDEX inbox_leased ON payments.inbox (lease_until) WHERE status = 'processing';
-- The admin list: newest first, optionally by status.
CREATE INDEX inbox_listed ON payments.inbox (created_at DESC, id DESC);
CREATE INDEX inbox_by_status ON payments.inbox (status, created_at DESC, id DESC);
