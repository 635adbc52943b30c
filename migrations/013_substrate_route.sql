-- Up Migration
-- The chain a task settles on: `evm` (TaskEscrow, PaymentChannels) or `substrate` (custody
-- multisigs on Asset Hub), chosen at posting by the kind of the buyer's account.
ALTER TABLE tasks ADD COLUMN chain TEXT NOT NULL DEFAULT 'evm' CHECK (chain IN ('evm', 'substrate'));

-- Substrate outbox rows take one or two extrinsics (a proposal by one custody signatory, the
-- execution by a second): each step is stored signed (signer, nonce, hash, raw bytes) before it
-- is broadcast, so after a crash the same extrinsic goes out again, never a second one.
ALTER TABLE chain_outbox ADD COLUMN steps JSONB NOT NULL DEFAULT '[]';

-- Down Migration
ALTER TABLE chain_outbox DROP COLUMN steps;
ALTER TABLE tasks DROP COLUMN chain;
