-- Up Migration
-- The escrow route: a task waits in `funding` (its auction too) until the indexer has seen
-- EscrowFunded confirmed; `settlement` records the route a task actually settles on.
ALTER TABLE auctions DROP CONSTRAINT auctions_status_check;
ALTER TABLE auctions ADD CONSTRAINT auctions_status_check CHECK (status IN ('funding', 'open', 'closed', 'cancelled'));
ALTER TABLE tasks ADD COLUMN settlement TEXT NOT NULL DEFAULT 'offchain' CHECK (settlement IN ('channel', 'escrow', 'offchain'));

-- Down Migration
ALTER TABLE tasks DROP COLUMN settlement;
ALTER TABLE auctions DROP CONSTRAINT auctions_status_check;
ALTER TABLE auctions ADD CONSTRAINT auctions_status_check CHECK (status IN ('open', 'closed', 'cancelled'));
