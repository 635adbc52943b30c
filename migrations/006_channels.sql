-- Up Migration
-- The channel route: which tasks each accepted voucher paid for (so an identical resubmission
-- answers the same), the batches of vouchers sent to PaymentChannels.settleBatch, and the index
-- that finds what a payer owes a payee (delivered, unpaid tasks).

ALTER TABLE vouchers
  ADD COLUMN task_ids       UUID[] NOT NULL DEFAULT '{}',
  ADD COLUMN increase       NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (increase >= 0),
  ADD COLUMN settlement_id  BIGINT,
  ADD COLUMN skip_reason    TEXT,
  ADD COLUMN settled_at     TIMESTAMPTZ;
CREATE INDEX vouchers_by_settlement ON vouchers (settlement_id) WHERE settlement_id IS NOT NULL;
CREATE INDEX vouchers_accepted ON vouchers (received_at) WHERE status = 'accepted';

-- One row per settleBatch the coordinator recorded in the outbox (intent `channels.settle:<id>`).
CREATE TABLE channel_settlements (
  id            BIGSERIAL PRIMARY KEY,
  outbox_id     BIGINT,
  reason        TEXT NOT NULL CHECK (reason IN ('interval', 'pairs', 'watchtower')),
  pairs         INTEGER NOT NULL CHECK (pairs > 0),
  status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'reverted')),
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at   TIMESTAMPTZ
);

CREATE INDEX tasks_delivered_by_pair ON tasks (buyer, agent, token) WHERE status = 'delivered';

-- Down Migration
DROP INDEX tasks_delivered_by_pair;
DROP TABLE channel_settlements;
DROP INDEX vouchers_accepted;
DROP INDEX vouchers_by_settlement;
ALTER TABLE vouchers DROP COLUMN task_ids, DROP COLUMN increase, DROP COLUMN settlement_id, DROP COLUMN skip_reason, DROP COLUMN settled_at;
