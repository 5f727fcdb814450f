-- Accounts, groups and contact lists: sqlite/0001 in PostgreSQL's dialect.
-- Numbers are uint32, beyond INTEGER, so they are BIGINT; list_entries.id
-- is an identity column and ciphertexts are BYTEA.

CREATE TABLE accounts (
    number        BIGINT  PRIMARY KEY CHECK (number BETWEEN 1 AND 4294967295),
    email         TEXT    NOT NULL UNIQUE,          -- lower-case
    nick          TEXT,                             -- as the user typed it
    nick_key      TEXT    UNIQUE,                   -- lower(nick): nicks are unique regardless of case
    display_name  TEXT    NOT NULL,
    password_enc  BYTEA   NOT NULL,                 -- AES-256-GCM after the key's id
    created_at    BIGINT  NOT NULL,                 -- Unix seconds
    serial        BIGINT  NOT NULL DEFAULT 0,       -- list serial, uint32
    privacy       TEXT    NOT NULL DEFAULT 'AL' CHECK (privacy IN ('AL', 'BL')),
    prompt_on_add BOOLEAN NOT NULL DEFAULT TRUE
);

-- Forward-list groups. Every account has group 0.
CREATE TABLE groups (
    owner BIGINT  NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    id    INTEGER NOT NULL CHECK (id >= 0),
    name  TEXT    NOT NULL,
    PRIMARY KEY (owner, id),
    UNIQUE (owner, name)
);

-- FL, AL and BL. The reverse list is not stored: it is the FL rows naming
-- the owner as contact. Ordering by id gives the order entries were added
-- in.
CREATE TABLE list_entries (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner   BIGINT NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    list    TEXT   NOT NULL CHECK (list IN ('FL', 'AL', 'BL')),
    contact BIGINT NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    UNIQUE (owner, list, contact)
);

CREATE INDEX list_entries_contact ON list_entries (contact, list);

-- The groups of each FL entry; an FL entry is in at least one group.
CREATE TABLE fl_groups (
    owner    BIGINT  NOT NULL,
    contact  BIGINT  NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    group_id INTEGER NOT NULL,
    PRIMARY KEY (owner, contact, group_id),
    FOREIGN KEY (owner, group_id) REFERENCES groups (owner, id) ON DELETE CASCADE
);

-- Lets deleting an account find its appearances in other owners' groups.
CREATE INDEX fl_groups_contact ON fl_groups (contact);
