-- The web service: admin rights and disabled accounts, sign-in sessions
-- of the web pages and the admin API, invite codes and the record of
-- sign-ups by address that the per-address limit counts.

ALTER TABLE accounts ADD COLUMN admin    BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE web_sessions (
    token_hash BLOB    PRIMARY KEY,  -- SHA-256 of the token: the token itself is never stored
    account    INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,     -- Unix seconds
    expires_at BIGINT  NOT NULL
);

CREATE INDEX web_sessions_account ON web_sessions (account);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE invites (
    code_hash  BLOB    PRIMARY KEY,  -- SHA-256 of the code
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    created_at BIGINT  NOT NULL,     -- Unix seconds
    expires_at BIGINT  NOT NULL
);

CREATE TABLE signups (
    addr       TEXT   NOT NULL,      -- the address (IPv6: its /64) a sign-up came from
    created_at BIGINT NOT NULL       -- Unix seconds
);

CREATE INDEX signups_addr ON signups (addr, created_at);
