-- Up Migration
-- The dashboard's rates (tasks posted, awarded and paid per second) count recent rows by these
-- instants; without an index each sample would scan every task.
CREATE INDEX tasks_by_created ON tasks (created_at);
CREATE INDEX tasks_by_awarded ON tasks (awarded_at) WHERE awarded_at IS NOT NULL;
CREATE INDEX tasks_by_accepted ON tasks (accepted_at) WHERE accepted_at IS NOT NULL;

-- Down Migration
DROP INDEX tasks_by_accepted;
DROP INDEX tasks_by_awarded;
DROP INDEX tasks_by_created;
