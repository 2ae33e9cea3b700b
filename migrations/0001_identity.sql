-- Identity context (DESIGN "Bounded contexts"): users, refresh-token sessions
-- and the Postgres side of the access-token deny list.
CREATE SCHEMA IF NOT EXISTS identity;

CREATE TABLE identity.users (
  user_id        uuid        PRIMARY KEY,
  email          text        NOT NULL,
  password_hash  text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254)
);
-- E-mails are stored normalised (trimmed, domain lower-cased); uniqueness is
-- case-insensitive so Alice@x.org and alice@x.org are one account.
CREATE UNIQUE INDEX users_email_unique ON identity.users (lower(email));

-- A session is one refresh-token family (RFC 9700 rotation): every refresh
-- replaces the family's current token; presenting a rotated token again
-- revokes the whole family.
CREATE TABLE identity.sessions (
  session_id      uuid        PRIMARY KEY,
  user_id         uuid        NOT NULL REFERENCES identity.users (user_id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz,
  revoked_reason  text
);
CREATE INDEX sessions_user ON identity.sessions (user_id);

-- Refresh tokens are stored as SHA-256 digests only.
CREATE TABLE identity.refresh_tokens (
  token_sha256  text        PRIMARY KEY,
  session_id    uuid        NOT NULL REFERENCES identity.sessions (session_id),
  issued_at     timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  rotated_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON identity.refresh_tokens (session_id);

-- Revoked access tokens (logout), kept until the token would have expired.
-- Redis holds the fast copy; this table is the fallback when Redis is down.
CREATE TABLE identity.revoked_access_tokens (
  jti         text        PRIMARY KEY,
  user_id     uuid        NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON identity.revoked_access_tokens (expires_at);
