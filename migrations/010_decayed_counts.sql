-- Up Migration
-- Reputation decay feeds the price multiplier (issue 11, item 7): per agent and capability, the
-- success and failure counts decayed at λ = 0.1 per day (each outcome weighs e^(−λ·age in days)),
-- as of counts_at. The multiplier tier follows the decayed success rate; with less than one
-- task's worth of recent evidence an agent is neutral again.
ALTER TABLE reputation_stats
  ADD COLUMN successes_decayed DOUBLE PRECISION NOT NULL DEFAULT 0,
  ADD COLUMN failures_decayed  DOUBLE PRECISION NOT NULL DEFAULT 0,
  ADD COLUMN counts_at         TIMESTAMPTZ NOT NULL DEFAULT now();
UPDATE reputation_stats SET successes_decayed = successes, failures_decayed = failures, counts_at = updated_at;

-- Down Migration
ALTER TABLE reputation_stats DROP COLUMN successes_decayed, DROP COLUMN failures_decayed, DROP COLUMN counts_at;
