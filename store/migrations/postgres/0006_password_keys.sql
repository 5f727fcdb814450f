-- The ids of the keys passwords have been sealed with. A node whose keys
-- are all unknown to a database that has some would seal passwords no
-- other node can open: it is refused at start instead. A node whose
-- previous key is known brings its current one in (a rotation).
CREATE TABLE password_keys (
    id       TEXT   PRIMARY KEY,  -- hex, derived from the key: it says nothing of it
    added_at BIGINT NOT NULL      -- Unix seconds
);
