-- Sites, their allowed origins and read API keys; the events visitors send.
-- Times are milliseconds since the Unix epoch (UTC) in BIGINT columns on both backends.

CREATE TABLE sites (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         TEXT   NOT NULL UNIQUE,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE site_origins (
    site_id  BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    origin   TEXT   NOT NULL,
    PRIMARY KEY (site_id, origin)
);

CREATE TABLE api_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    key_hash    TEXT   NOT NULL UNIQUE,
    key_prefix  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- One row per event a browser sent. The primary key (site_id, event_id) is what makes a
-- replayed batch harmless: the browser-made id is stored once per site.
CREATE TABLE events (
    site_id      BIGINT   NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_id     UUID     NOT NULL,
    visitor_id   UUID     NOT NULL,
    kind         TEXT     NOT NULL CHECK (kind IN ('touchpoint', 'response')),
    occurred_at  BIGINT   NOT NULL,
    received_at  BIGINT   NOT NULL,
    name         TEXT,
    url          TEXT,
    score        SMALLINT CHECK (score BETWEEN 0 AND 10),
    comment      TEXT,
    PRIMARY KEY (site_id, event_id),
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND name IS NULL))
);

CREATE INDEX events_by_kind_and_time ON events (site_id, kind, occurred_at);
