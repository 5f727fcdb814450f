-- A login that has read its mailbox claims what it read, so that a sender
-- racing that login takes back only messages the login did not see.
ALTER TABLE offline_messages ADD COLUMN claimed BOOLEAN NOT NULL DEFAULT FALSE;
