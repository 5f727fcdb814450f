-- Chat tokens: short-lived, single-use tokens that a signed-in web page
-- hands its browser chat, so the chat logs in without the password and
-- without the session cookie's value ever being in a page. Each belongs
-- to the web session that minted it and ends with it (sign-out).

CREATE TABLE chat_tokens (
    token_hash   BLOB   PRIMARY KEY,  -- SHA-256 of the token: the token itself is never stored
    session_hash BLOB   NOT NULL REFERENCES web_sessions (token_hash) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL      -- Unix seconds
);

CREATE INDEX chat_tokens_session ON chat_tokens (session_hash);
CREATE INDEX chat_tokens_expires ON chat_tokens (expires_at);
