-- Offline messages and clients' own contact-list files (GG userlist export).
-- Portable as 0001 is: a PostgreSQL schema would use an identity column for
-- offline_messages.id and BYTEA for BLOB.

CREATE TABLE offline_messages (
    id        INTEGER PRIMARY KEY,
    recipient INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    sender    INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    sent_at   BIGINT  NOT NULL,  -- Unix nanoseconds
    body      TEXT    NOT NULL,  -- the hub.Message as JSON: text and format
    UNIQUE (recipient, id)
);

CREATE TABLE contact_files (
    owner   INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    format  TEXT    NOT NULL,
    version BIGINT  NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (owner, format)
);
