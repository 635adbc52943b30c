-- Up Migration
-- Execution control: dispatch attempts and deadlines, per-agent circuit breakers shared by every
-- coordinator process, DAG workflows with a ledger of budgets, and reputation with history
-- and Merkle epoch snapshots.

ALTER TABLE tasks
  ADD COLUMN attempts        INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN eta_ms          INTEGER,
  ADD COLUMN dispatched_at   TIMESTAMPTZ,
  ADD COLUMN started_at      TIMESTAMPTZ,
  ADD COLUMN run_deadline    TIMESTAMPTZ,
  ADD COLUMN delivered_at    TIMESTAMPTZ,
  ADD COLUMN output          JSONB,
  ADD COLUMN result_hash     TEXT,
  ADD COLUMN failure_reason  TEXT,
  ADD COLUMN failovers       INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN workflow_id     UUID,
  ADD COLUMN node_key        TEXT;
CREATE INDEX tasks_running_deadline ON tasks (run_deadline) WHERE status = 'running';
CREATE INDEX tasks_by_workflow ON tasks (workflow_id) WHERE workflow_id IS NOT NULL;

-- Circuit breaker per agent (DESIGN.md "Scheduling and health").
CREATE TABLE agent_breakers (
  agent            TEXT PRIMARY KEY,
  state            TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
  failures         INTEGER NOT NULL DEFAULT 0,
  opened_at        TIMESTAMPTZ,
  reopen_count     INTEGER NOT NULL DEFAULT 0,
  retry_at         TIMESTAMPTZ,
  trials_started   INTEGER NOT NULL DEFAULT 0,
  trial_successes  INTEGER NOT NULL DEFAULT 0,
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE workflows (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  buyer         TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  total_budget  NUMERIC(78,0) NOT NULL CHECK (total_budget > 0),
  reserve       NUMERIC(78,0) NOT NULL CHECK (reserve >= 0),
  reserve_used  NUMERIC(78,0) NOT NULL DEFAULT 0,
  token         TEXT NOT NULL,
  route         TEXT NOT NULL,
  deadline      TIMESTAMPTZ NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at   TIMESTAMPTZ
);

CREATE TABLE workflow_nodes (
  workflow_id   UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  spec          JSONB NOT NULL,
  budget        NUMERIC(78,0) NOT NULL CHECK (budget > 0),
  depends_on    TEXT[] NOT NULL DEFAULT '{}',
  status        TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'auctioning', 'running', 'done', 'failed', 'cancelled')),
  task_id       UUID,
  attempts      INTEGER NOT NULL DEFAULT 0,
  started_at    TIMESTAMPTZ,
  finished_at   TIMESTAMPTZ,
  PRIMARY KEY (workflow_id, key)
);

-- The ledger of a workflow's budget: every hold, spend, release and reserve draw, so that
-- total_budget = Σ holds and Σ spend + Σ release + unspent holds = total_budget.
CREATE TABLE workflow_ledger (
  id            BIGSERIAL PRIMARY KEY,
  workflow_id   UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  node_key      TEXT,
  kind          TEXT NOT NULL CHECK (kind IN ('hold', 'spend', 'release', 'reserve_draw')),
  amount        NUMERIC(78,0) NOT NULL CHECK (amount >= 0),
  at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_ledger_by_workflow ON workflow_ledger (workflow_id, id);

-- Reputation: a decayed score per agent and capability, and its history.
ALTER TABLE reputation_stats
  ADD COLUMN score      DOUBLE PRECISION NOT NULL DEFAULT 50,
  ADD COLUMN scored_at  TIMESTAMPTZ NOT NULL DEFAULT now();

CREATE TABLE reputation_events (
  id           BIGSERIAL PRIMARY KEY,
  agent        TEXT NOT NULL,
  capability   TEXT NOT NULL,
  task_id      UUID,
  outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
  response_ms  INTEGER,
  score_after  DOUBLE PRECISION NOT NULL,
  at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reputation_events_by_agent ON reputation_events (agent, id DESC);

-- Epoch snapshots: the Merkle root of (agent, score, tasks, epoch) leaves and the full tree.
CREATE TABLE reputation_epochs (
  epoch        BIGINT PRIMARY KEY,
  root         TEXT NOT NULL,
  tree         JSONB NOT NULL,
  leaves       INTEGER NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  anchored_tx  TEXT,
  anchored_at  TIMESTAMPTZ
);

-- Down Migration
DROP TABLE reputation_epochs;
DROP TABLE reputation_events;
ALTER TABLE reputation_stats DROP COLUMN score, DROP COLUMN scored_at;
DROP TABLE workflow_ledger;
DROP TABLE workflow_nodes;
DROP TABLE workflows;
DROP TABLE agent_breakers;
ALTER TABLE tasks DROP COLUMN attempts, DROP COLUMN eta_ms, DROP COLUMN dispatched_at, DROP COLUMN started_at,
  DROP COLUMN run_deadline, DROP COLUMN delivered_at, DROP COLUMN output, DROP COLUMN result_hash,
  DROP COLUMN failure_reason, DROP COLUMN failovers, DROP COLUMN workflow_id, DROP COLUMN node_key;
