-- A mailbox message is claimed by the session that read it, not just
-- marked read: when that session ends without its client acknowledging the
-- message, the claim is released and another session delivers it. Claims of
-- sessions that no longer exist (a node killed mid-delivery) are taken over
-- by the next login. Old claims belong to no live session.
ALTER TABLE offline_messages ADD COLUMN claimed_by TEXT;
UPDATE offline_messages SET claimed_by = '' WHERE claimed;
ALTER TABLE offline_messages DROP COLUMN claimed;
CREATE INDEX offline_messages_sender ON offline_messages (recipient, sender);
