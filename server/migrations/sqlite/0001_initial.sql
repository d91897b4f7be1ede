-- Sites, their allowed origins and read API keys; the events visitors send.
-- Times are milliseconds since the Unix epoch (UTC) in INTEGER columns on both backends.

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE site_origins (
    site_id  INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    origin   TEXT    NOT NULL,
    PRIMARY KEY (site_id, origin)
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    key_hash    TEXT    NOT NULL UNIQUE,
    key_prefix  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- One row per event a browser sent. The primary key (site_id, event_id) is what makes a
-- replayed batch harmless: the browser-made id is stored once per site.
CREATE TABLE events (
    site_id      INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_id     BLOB    NOT NULL,
    visitor_id   BLOB    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('touchpoint', 'response')),
    occurred_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    name         TEXT,
    url          TEXT,
    score        INTEGER CHECK (score BETWEEN 0 AND 10),
    comment      TEXT,
    PRIMARY KEY (site_id, event_id),
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND name IS NULL))
);

CREATE INDEX events_by_kind_and_time ON events (site_id, kind, occurred_at);
