-- Up Migration
-- The indexer keeps each event's block time, so projections rebuilt by replaying chain_events
-- after a reorg (disputes.opened_at, dispute_evidence.at) get the chain's time back, not now().
ALTER TABLE chain_events ADD COLUMN block_time TIMESTAMPTZ;

-- Down Migration
ALTER TABLE chain_events DROP COLUMN block_time;
