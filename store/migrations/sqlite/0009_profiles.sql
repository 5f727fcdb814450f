-- Roaming profiles: what MSN's storage service (WLM 8.5 / 2009) keeps for
-- an account besides its display name, which stays on accounts: the
-- personal message and the display picture the client uploaded. The
-- picture's version grows with each upload, so that a URL naming an old
-- version stops working.

CREATE TABLE profiles (
    owner            INTEGER NOT NULL PRIMARY KEY REFERENCES accounts (number) ON DELETE CASCADE,
    personal_message TEXT    NOT NULL DEFAULT '',
    picture_type     TEXT    NOT NULL DEFAULT '',
    picture          BLOB    NOT NULL DEFAULT x'',
    picture_version  BIGINT  NOT NULL DEFAULT 0,
    changed_at       BIGINT  NOT NULL  -- Unix seconds
);
