-- GG drive (edisc) file-transfer tickets. The file bytes live outside the
-- database, under <data dir>/drive/<id>. Portable as 0001 is: times are
-- Unix nanoseconds in BIGINT columns.

CREATE TABLE drive_tickets (
    id          TEXT    PRIMARY KEY,
    sender      INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    recipient   INTEGER NOT NULL REFERENCES accounts (number) ON DELETE CASCADE,
    file_name   TEXT    NOT NULL,
    file_size   BIGINT  NOT NULL CHECK (file_size >= 0),
    ack_status  TEXT    NOT NULL DEFAULT 'unknown'
                CHECK (ack_status IN ('unknown', 'allowed', 'rejected')),
    send_status TEXT    NOT NULL DEFAULT 'in_progress'
                CHECK (send_status IN ('in_progress', 'completed')),
    progress    BIGINT  NOT NULL DEFAULT 0 CHECK (progress >= 0),
    sha256      TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE INDEX drive_tickets_sender ON drive_tickets (sender, ack_status);
CREATE INDEX drive_tickets_expires ON drive_tickets (expires_at);
