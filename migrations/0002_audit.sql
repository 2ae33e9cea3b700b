-- Audit context: an append-only record of every credit-moving or
-- security-relevant action (DESIGN invariant 7). Rows are written in the same
-- transaction as the change they describe, so a change never exists without
-- its record.
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.records (
  record_id   bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text        NOT NULL,  -- 'user:<id>', 'admin', 'system', 'anonymous'
  action      text        NOT NULL,  -- e.g. 'user.registered', 'auth.login_failed'
  subject     text,                  -- the resource acted on
  amount      bigint,                -- credits, when credits moved
  request_id  text,
  source_ip   text,
  detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX records_at ON audit.records (at DESC, record_id DESC);
CREATE INDEX records_action ON audit.records (action, at DESC);

-- Append-only: updates and deletes are refused at the database.
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit.records is append-only';
END $$;
CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON audit.records
  FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
