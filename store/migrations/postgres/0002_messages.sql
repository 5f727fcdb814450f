-- Offline messages and clients' own contact-list files (GG userlist
-- export): sqlite/0002 in PostgreSQL's dialect.

CREATE TABLE offline_messages (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient BIGINT NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    sender    BIGINT NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    sent_at   BIGINT NOT NULL,  -- Unix nanoseconds
    body      TEXT   NOT NULL,  -- the hub.Message as JSON: text and format
    UNIQUE (recipient, id)
);

CREATE TABLE contact_files (
    owner   BIGINT NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    format  TEXT   NOT NULL,
    version BIGINT NOT NULL,
    data    BYTEA  NOT NULL,
    PRIMARY KEY (owner, format)
);
