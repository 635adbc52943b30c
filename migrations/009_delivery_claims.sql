-- Up Migration
-- Delivered but unpaid channel-route work is protected (issue 11, item 5). A buyer signs an
-- EIP-712 DeliveryAuthorization (PaymentChannels' domain) letting the coordinator pay, out of
-- its deposit, up to max_amount in total to the agents of delivered tasks, until expiry. Every
-- channel-route promise draws on one (committed = Σ budgets promised under it, never above
-- max_amount). When the buyer asks for its deposit back, or stays silent past the acceptance
-- window, the coordinator claims the delivered price with PaymentChannels.claimDelivered.
CREATE TABLE channel_authorizations (
  digest      TEXT PRIMARY KEY,             -- EIP-712 digest (the contract's id of it)
  payer       TEXT NOT NULL,
  token       TEXT NOT NULL,
  salt        TEXT NOT NULL,
  max_amount  NUMERIC(78,0) NOT NULL CHECK (max_amount > 0),
  expiry      TIMESTAMPTZ NOT NULL,
  signature   TEXT NOT NULL,
  committed   NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (committed >= 0 AND committed <= max_amount),
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX channel_authorizations_payer ON channel_authorizations (payer, token, expiry);

ALTER TABLE channel_promises ADD COLUMN authorization_digest TEXT REFERENCES channel_authorizations(digest);
ALTER TABLE channel_promises DROP CONSTRAINT channel_promises_status_check;
ALTER TABLE channel_promises ADD CONSTRAINT channel_promises_status_check CHECK (status IN ('held', 'vouched', 'released', 'claiming', 'claimed'));
DROP INDEX channel_promises_held;
CREATE INDEX channel_promises_held ON channel_promises (payer, token) WHERE status IN ('held', 'claiming');

-- One claim per (authorization, payee) of one claimDelivered transaction.
CREATE TABLE channel_claims (
  id              BIGSERIAL PRIMARY KEY,
  authorization_digest TEXT NOT NULL REFERENCES channel_authorizations(digest),
  payer           TEXT NOT NULL,
  payee           TEXT NOT NULL,
  token           TEXT NOT NULL,
  amount          NUMERIC(78,0) NOT NULL CHECK (amount > 0),
  settled_before  NUMERIC(78,0) NOT NULL,
  task_ids        UUID[] NOT NULL,
  reason          TEXT NOT NULL CHECK (reason IN ('withdrawal', 'silence', 'expiry')),
  status          TEXT NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'confirmed', 'reverted', 'orphaned')),
  outbox_id       BIGINT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX channel_claims_pair ON channel_claims (payer, payee, token) WHERE status = 'sending';
CREATE INDEX channel_claims_outbox ON channel_claims (outbox_id);

-- Down Migration
DROP TABLE channel_claims;
DROP INDEX channel_promises_held;
UPDATE channel_promises SET status = 'held' WHERE status = 'claiming';
UPDATE channel_promises SET status = 'vouched' WHERE status = 'claimed';
ALTER TABLE channel_promises DROP CONSTRAINT channel_promises_status_check;
ALTER TABLE channel_promises ADD CONSTRAINT channel_promises_status_check CHECK (status IN ('held', 'vouched', 'released'));
CREATE INDEX channel_promises_held ON channel_promises (payer, token) WHERE status = 'held';
ALTER TABLE channel_promises DROP COLUMN authorization_digest;
DROP TABLE channel_authorizations;
