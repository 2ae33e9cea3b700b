-- Workflows context (DESIGN "Workflows and sagas"): definitions, runs and each
-- run's step log. No foreign keys into other schemas: a run reaches the ledger
-- only through the ledger actor, with idempotency keys "run:<id>:<step>".
CREATE SCHEMA IF NOT EXISTS workflows;

-- A metered workflow. Soft-deleted rows keep their runs readable in the audit
-- trail but are invisible to the API.
CREATE TABLE workflows.definitions (
  workflow_id  uuid        PRIMARY KEY,
  owner_id     uuid        NOT NULL,
  name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  credit_cost  bigint      NOT NULL CHECK (credit_cost >= 0),
  executor     jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  deleted_at   timestamptz
);
CREATE INDEX definitions_owner_page ON workflows.definitions (owner_id, created_at DESC, workflow_id DESC)
  WHERE deleted_at IS NULL;

-- One saga per run. `status` is the API's status, plus 'pending' while the
-- reservation is being taken (hidden from the API). The workflow's cost and
-- executor are copied at run start, so editing a workflow never changes a
-- run in flight. `lease_token`/`lease_until` fence the one saga driving the
-- run: every write is conditional on the token, and recovery claims only
-- unfinished runs whose lease has lapsed.
CREATE TABLE workflows.runs (
  run_id            uuid        PRIMARY KEY,
  workflow_id       uuid        NOT NULL,
  owner_id          uuid        NOT NULL,
  status            text        NOT NULL CHECK (status IN ('pending', 'reserved', 'running',
                                'succeeded', 'failed', 'compensated')),
  credit_cost       bigint      NOT NULL CHECK (credit_cost >= 0),
  executor          jsonb       NOT NULL,
  input             jsonb,
  output            jsonb,
  error             text,
  credits_reserved  bigint      NOT NULL DEFAULT 0 CHECK (credits_reserved >= 0),
  credits_charged   bigint      NOT NULL DEFAULT 0 CHECK (credits_charged >= 0),
  reservation_id    uuid,
  idempotency_key   text,
  request_sha256    text,
  lease_token       uuid        NOT NULL,
  lease_until       timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  CHECK (credits_charged <= credits_reserved),
  CHECK ((finished_at IS NOT NULL) = (status IN ('succeeded', 'failed', 'compensated')))
);
CREATE UNIQUE INDEX runs_idempotency ON workflows.runs (owner_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_workflow_page ON workflows.runs (workflow_id, created_at DESC, run_id DESC);
CREATE INDEX runs_unfinished ON workflows.runs (lease_until)
  WHERE status IN ('pending', 'reserved', 'running');

-- The saga's step log: each step is written 'started' before it is taken and
-- marked after, so recovery knows exactly how far a run got.
CREATE TABLE workflows.steps (
  run_id      uuid        NOT NULL,
  name        text        NOT NULL CHECK (name IN ('reserve', 'execute', 'commit', 'release')),
  status      text        NOT NULL CHECK (status IN ('started', 'succeeded', 'failed',
                                                     'skipped')),
  attempts    integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  detail      text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, name)
);
