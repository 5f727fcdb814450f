-- The web service: sqlite/0007 in PostgreSQL's dialect (BYTEA for BLOB,
-- BIGINT for account numbers).

ALTER TABLE accounts ADD COLUMN admin    BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE web_sessions (
    token_hash BYTEA   PRIMARY KEY,  -- SHA-256 of the token: the token itself is never stored
    account    BIGINT  NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,     -- Unix seconds
    expires_at BIGINT  NOT NULL
);

CREATE INDEX web_sessions_account ON web_sessions (account);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE invites (
    code_hash  BYTEA   PRIMARY KEY,  -- SHA-256 of the code
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    created_at BIGINT  NOT NULL,     -- Unix seconds
    expires_at BIGINT  NOT NULL
);

CREATE TABLE signups (
    addr       TEXT   NOT NULL,      -- the address (IPv6: its /64) a sign-up came from
    created_at BIGINT NOT NULL       -- Unix seconds
);

CREATE INDEX signups_addr ON signups (addr, created_at);
