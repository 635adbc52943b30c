-- Up Migration
-- Settlement: the transactional outbox of coordinator transactions, the indexer's cursor,
-- blocks and events, projections of the contracts' state (escrows, channels, disputes), the
-- vouchers the coordinator accepted, and the double-entry ledger. Amounts: NUMERIC(78,0).

-- Every coordinator transaction is an intent recorded here in the same database transaction as
-- the state change that needs it; one nonce-managed sender executes them. `intent` is unique,
-- so an intent is never sent twice.
CREATE TABLE chain_outbox (
  id            BIGSERIAL PRIMARY KEY,
  chain         TEXT NOT NULL DEFAULT 'evm',
  intent        TEXT NOT NULL UNIQUE,
  kind          TEXT NOT NULL,
  payload       JSONB NOT NULL,
  status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'signed', 'sent', 'confirmed', 'reverted', 'failed')),
  nonce         BIGINT,
  tx_hash       TEXT,
  raw_tx        TEXT,
  attempts      INTEGER NOT NULL DEFAULT 0,
  last_error    TEXT,
  block_number  BIGINT,
  gas_used      NUMERIC(78,0),
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  sent_at       TIMESTAMPTZ,
  confirmed_at  TIMESTAMPTZ
);
CREATE INDEX chain_outbox_open ON chain_outbox (chain, id) WHERE status IN ('pending', 'signed', 'sent');

-- Indexer: cursor, the recent blocks with their parent hashes (reorg detection), raw events.
CREATE TABLE indexer_cursors (
  chain         TEXT PRIMARY KEY,
  block_number  BIGINT NOT NULL,
  block_hash    TEXT NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE indexed_blocks (
  chain         TEXT NOT NULL,
  number        BIGINT NOT NULL,
  hash          TEXT NOT NULL,
  parent_hash   TEXT NOT NULL,
  timestamp     TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (chain, number)
);
CREATE TABLE chain_events (
  chain         TEXT NOT NULL,
  tx_hash       TEXT NOT NULL,
  log_index     INTEGER NOT NULL,
  block_number  BIGINT NOT NULL,
  block_hash    TEXT NOT NULL,
  contract      TEXT NOT NULL,
  name          TEXT NOT NULL,
  args          JSONB NOT NULL,
  PRIMARY KEY (chain, tx_hash, log_index)
);
CREATE INDEX chain_events_by_block ON chain_events (chain, block_number, log_index);

-- Projection of TaskEscrow per task (bytes32 key = the task's UUID, hex, right-padded).
CREATE TABLE escrows (
  task_id           UUID PRIMARY KEY,
  escrow_key        TEXT NOT NULL UNIQUE,
  buyer             TEXT NOT NULL,
  token             TEXT NOT NULL,
  amount            NUMERIC(78,0) NOT NULL,
  deadline          TIMESTAMPTZ NOT NULL,
  state             TEXT NOT NULL,
  agent             TEXT,
  price             NUMERIC(78,0),
  result_hash       TEXT,
  delivered_at      TIMESTAMPTZ,
  acceptance_ends_at TIMESTAMPTZ,
  dispute_id        BIGINT,
  updated_block     BIGINT NOT NULL
);

-- Projection of DisputeResolver, and evidence from both sides (API text and on-chain URIs).
CREATE TABLE disputes (
  dispute_id        BIGINT PRIMARY KEY,
  task_id           UUID NOT NULL,
  buyer             TEXT NOT NULL,
  agent             TEXT NOT NULL,
  opened_by         TEXT NOT NULL,
  arbitrator        TEXT NOT NULL,
  status            TEXT NOT NULL,
  agent_share_bps   INTEGER,
  appealed          BOOLEAN NOT NULL DEFAULT FALSE,
  rule_deadline     TIMESTAMPTZ,
  appeal_deadline   TIMESTAMPTZ,
  opened_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_block     BIGINT NOT NULL
);
CREATE TABLE dispute_evidence (
  id            BIGSERIAL PRIMARY KEY,
  task_id       UUID NOT NULL,
  party         TEXT NOT NULL,
  uri           TEXT,
  text          TEXT,
  source        TEXT NOT NULL CHECK (source IN ('api', 'chain')),
  tx_hash       TEXT,
  log_index     INTEGER,
  at            TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (tx_hash, log_index)
);
CREATE INDEX dispute_evidence_by_task ON dispute_evidence (task_id, id);

-- Projection of PaymentChannels deposits per payer and token.
CREATE TABLE channel_accounts (
  payer                 TEXT NOT NULL,
  token                 TEXT NOT NULL,
  deposit               NUMERIC(78,0) NOT NULL DEFAULT 0,
  withdrawal_available_at TIMESTAMPTZ,
  updated_block         BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (payer, token)
);

-- Per (payer, payee, token): the highest voucher the coordinator accepted and the cumulative
-- amount confirmed settled on-chain. accepted ≥ settled; both only grow.
CREATE TABLE channel_pairs (
  payer         TEXT NOT NULL,
  payee         TEXT NOT NULL,
  token         TEXT NOT NULL,
  accepted      NUMERIC(78,0) NOT NULL DEFAULT 0,
  settled       NUMERIC(78,0) NOT NULL DEFAULT 0,
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (payer, payee, token),
  CHECK (accepted >= settled)
);

-- Every voucher accepted (EIP-712 signature of the payer), the latest per pair is settled.
CREATE TABLE vouchers (
  payer         TEXT NOT NULL,
  payee         TEXT NOT NULL,
  token         TEXT NOT NULL,
  cumulative    NUMERIC(78,0) NOT NULL,
  signature     TEXT NOT NULL,
  task_id       UUID,
  outbox_id     BIGINT,
  status        TEXT NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'settling', 'settled', 'superseded', 'skipped')),
  received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (payer, payee, token, cumulative)
);
CREATE INDEX vouchers_unsettled ON vouchers (payer, token) WHERE status IN ('accepted', 'settling');

-- Channel-route budgets promised out of a payer's deposit while a task is open or running.
CREATE TABLE channel_promises (
  task_id       UUID PRIMARY KEY,
  payer         TEXT NOT NULL,
  token         TEXT NOT NULL,
  amount        NUMERIC(78,0) NOT NULL CHECK (amount >= 0),
  status        TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'vouched', 'released')),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX channel_promises_held ON channel_promises (payer, token) WHERE status = 'held';

-- Double-entry ledger: every movement is a group of entries that sums to zero per token.
-- Accounts: wallet:<addr> (outside), escrow:<task>, escrow-credit:<addr>, treasury,
-- channel-deposit:<payer>, channel-promise:<task>, channel-owed:<payer>:<payee>,
-- channel-claimable:<payee>.
CREATE TABLE ledger_entries (
  id            BIGSERIAL PRIMARY KEY,
  entry_group   TEXT NOT NULL,
  account       TEXT NOT NULL,
  token         TEXT NOT NULL,
  amount        NUMERIC(78,0) NOT NULL,
  kind          TEXT NOT NULL,
  task_id       UUID,
  block_number  BIGINT,
  at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ledger_by_account ON ledger_entries (account, token);
CREATE INDEX ledger_by_group ON ledger_entries (entry_group);
CREATE INDEX ledger_by_block ON ledger_entries (block_number) WHERE block_number IS NOT NULL;

ALTER TABLE reputation_epochs ADD COLUMN anchor_outbox_id BIGINT;
ALTER TABLE tasks ADD COLUMN accepted_at TIMESTAMPTZ, ADD COLUMN settled_at TIMESTAMPTZ;

-- Down Migration
ALTER TABLE tasks DROP COLUMN accepted_at, DROP COLUMN settled_at;
ALTER TABLE reputation_epochs DROP COLUMN anchor_outbox_id;
DROP TABLE ledger_entries;
DROP TABLE channel_promises;
DROP TABLE vouchers;
DROP TABLE channel_pairs;
DROP TABLE channel_accounts;
DROP TABLE dispute_evidence;
DROP TABLE disputes;
DROP TABLE escrows;
DROP TABLE chain_events;
DROP TABLE indexed_blocks;
DROP TABLE indexer_cursors;
DROP TABLE chain_outbox;
