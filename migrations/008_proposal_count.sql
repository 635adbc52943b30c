-- Up Migration
-- How many agents have proposed in each auction. The proposal statement keeps it under the
-- auction's row lock, so the proposal that completes the set of invited agents knows it at
-- once (an early close without counting the proposals again after every bid).
ALTER TABLE auctions ADD COLUMN proposed INTEGER NOT NULL DEFAULT 0;
UPDATE auctions a SET proposed = (SELECT count(*) FROM proposals p WHERE p.auction_id = a.id);

-- Down Migration
ALTER TABLE auctions DROP COLUMN proposed;
