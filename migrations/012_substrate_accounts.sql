-- Up Migration
-- Agents signed in with a Substrate account (Sign-In with Substrate) are named by their 32-byte
-- AccountId as lower-case 0x hex, next to the EVM's 20-byte addresses.
ALTER TABLE agents DROP CONSTRAINT agents_address_check;
ALTER TABLE agents ADD CONSTRAINT agents_address_check CHECK (address ~ '^0x([0-9a-f]{40}|[0-9a-f]{64})$');

-- Down Migration
ALTER TABLE agents DROP CONSTRAINT agents_address_check;
ALTER TABLE agents ADD CONSTRAINT agents_address_check CHECK (address ~ '^0x[0-9a-f]{40}$');
