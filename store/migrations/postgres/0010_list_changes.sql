-- sqlite/0010 in PostgreSQL's dialect (numbers are BIGINT).
--
-- What MSN's address book services (MSNP13+) need to answer a client that
-- asks only for what changed since its copy of the lists: when each entry
-- and group last changed, as the owner's list serial after the change, and
-- what left the lists (removals), kept up to a limit per account.

-- changes_since is the serial from which every removal is still kept:
-- older ones were let go, or came before this migration. Copies of the
-- lists clients made before it hold answers of an older form (membership
-- ids, times of change), so it starts past every serial there is: the
-- first request for deltas is answered with "full sync required".
ALTER TABLE accounts ADD COLUMN changes_since BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET changes_since = serial + 1;

ALTER TABLE groups ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
-- changed is the owner's serial; on FL rows contact_changed is the
-- contact's, for the owner's appearance on the contact's reverse list.
ALTER TABLE list_entries ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE list_entries ADD COLUMN contact_changed BIGINT NOT NULL DEFAULT 0;

-- A contact that left the owner's FL, AL, BL or RL (item its number), or a
-- group the owner deleted (list 'GR', item its id), with the e-mail the
-- contact had then ('' for a group), which outlives a deleted account.
CREATE TABLE list_removals (
    owner  BIGINT  NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    list   TEXT    NOT NULL CHECK (list IN ('FL', 'AL', 'BL', 'RL', 'GR')),
    item   BIGINT  NOT NULL,
    email  TEXT    NOT NULL,
    serial BIGINT  NOT NULL,   -- the owner's serial after the removal
    PRIMARY KEY (owner, list, item)
);

CREATE INDEX list_removals_serial ON list_removals (owner, serial);
