-- Up Migration
-- Coordinator core: sign-in nonces, agents, auctions (FIPA Contract Net), tasks, calls for
-- proposals and proposals. Every amount is a token base-unit integer: NUMERIC(78,0).

CREATE TABLE auth_nonces (
  nonce       TEXT PRIMARY KEY,
  expires_at  TIMESTAMPTZ NOT NULL,
  used_at     TIMESTAMPTZ
);

CREATE TABLE agents (
  address         TEXT PRIMARY KEY CHECK (address ~ '^0x[0-9a-f]{40}$'),
  name            TEXT NOT NULL,
  endpoint_url    TEXT,
  webhook_secret  TEXT NOT NULL,
  max_concurrency INTEGER NOT NULL DEFAULT 10 CHECK (max_concurrency > 0),
  suspended       BOOLEAN NOT NULL DEFAULT FALSE,
  suspended_reason TEXT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE agent_capabilities (
  agent       TEXT NOT NULL REFERENCES agents(address) ON DELETE CASCADE,
  capability  TEXT NOT NULL,
  min_price   NUMERIC(78,0) NOT NULL CHECK (min_price >= 0),
  PRIMARY KEY (agent, capability)
);
CREATE INDEX agent_capabilities_by_capability ON agent_capabilities (capability, agent);

CREATE TABLE auctions (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  buyer         TEXT NOT NULL,
  capability    TEXT NOT NULL,
  rule          TEXT NOT NULL CHECK (rule IN ('first-price', 'second-price', 'reputation-weighted', 'uniform-price')),
  window_ms     INTEGER NOT NULL CHECK (window_ms >= 0),
  quantity      INTEGER NOT NULL DEFAULT 1 CHECK (quantity >= 1),
  budget        NUMERIC(78,0) NOT NULL CHECK (budget > 0),
  status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
  eligible      INTEGER NOT NULL DEFAULT 0,
  opened_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  closes_at     TIMESTAMPTZ NOT NULL,
  closed_at     TIMESTAMPTZ,
  close_reason  TEXT,
  clearing_price NUMERIC(78,0)
);
CREATE INDEX auctions_open_by_close ON auctions (closes_at) WHERE status = 'open';

CREATE TABLE tasks (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  auction_id    UUID NOT NULL REFERENCES auctions(id),
  lot_index     INTEGER NOT NULL DEFAULT 0,
  buyer         TEXT NOT NULL,
  capability    TEXT NOT NULL,
  input         JSONB NOT NULL,
  complexity    SMALLINT NOT NULL CHECK (complexity BETWEEN 1 AND 10),
  urgency       TEXT NOT NULL,
  budget        NUMERIC(78,0) NOT NULL CHECK (budget > 0),
  token         TEXT NOT NULL,
  deadline      TIMESTAMPTZ NOT NULL,
  route         TEXT NOT NULL CHECK (route IN ('auto', 'channel', 'escrow')),
  status        TEXT NOT NULL,
  agent         TEXT,
  price         NUMERIC(78,0),
  runner_ups    JSONB NOT NULL DEFAULT '[]',
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  awarded_at    TIMESTAMPTZ,
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tasks_by_auction ON tasks (auction_id, lot_index);
CREATE INDEX tasks_by_buyer ON tasks (buyer, created_at DESC);
CREATE INDEX tasks_by_agent_status ON tasks (agent, status);
CREATE INDEX tasks_by_status ON tasks (status, created_at DESC);

-- The agents a call for proposals went to (eligible when the auction opened).
CREATE TABLE cfps (
  auction_id  UUID NOT NULL REFERENCES auctions(id) ON DELETE CASCADE,
  agent       TEXT NOT NULL,
  sent_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (auction_id, agent)
);
CREATE INDEX cfps_by_agent ON cfps (agent, sent_at);

CREATE TABLE proposals (
  auction_id  UUID NOT NULL REFERENCES auctions(id) ON DELETE CASCADE,
  agent       TEXT NOT NULL,
  price       NUMERIC(78,0) NOT NULL CHECK (price >= 0),
  eta_ms      INTEGER NOT NULL CHECK (eta_ms > 0),
  outcome     TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'accepted', 'rejected')),
  created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (auction_id, agent)
);

-- Per agent and capability outcome counts: the input of reputation scores and multipliers.
CREATE TABLE reputation_stats (
  agent             TEXT NOT NULL,
  capability        TEXT NOT NULL,
  successes         INTEGER NOT NULL DEFAULT 0,
  failures          INTEGER NOT NULL DEFAULT 0,
  response_ms_total BIGINT NOT NULL DEFAULT 0,
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (agent, capability)
);

-- Down Migration
DROP TABLE reputation_stats;
DROP TABLE proposals;
DROP TABLE cfps;
DROP TABLE tasks;
DROP TABLE auctions;
DROP TABLE agent_capabilities;
DROP TABLE agents;
DROP TABLE auth_nonces;
