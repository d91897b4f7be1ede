-- `identify` events link an anonymous visitor to the website owner's customer id (with traits),
-- which is what privacy requests and revenue joins look up; API keys get a label and a scope.
--
-- SQLite cannot change a CHECK constraint in place, so the events table is rebuilt.

CREATE TABLE events_new (
    site_id      INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_id     BLOB    NOT NULL,
    visitor_id   BLOB    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('touchpoint', 'response', 'identify')),
    occurred_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    name         TEXT,
    url          TEXT,
    score        INTEGER CHECK (score BETWEEN 0 AND 10),
    comment      TEXT,
    customer_id  TEXT,
    -- A JSON object of trait names to text values.
    traits       TEXT,
    PRIMARY KEY (site_id, event_id),
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL AND customer_id IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND name IS NULL AND customer_id IS NULL)
        OR (kind = 'identify' AND customer_id IS NOT NULL AND name IS NULL AND score IS NULL))
);

INSERT INTO events_new (site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment)
SELECT site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment FROM events;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE INDEX events_by_kind_and_time ON events (site_id, kind, occurred_at);
-- Privacy requests find everything of one visitor, or of the visitors one customer used.
CREATE INDEX events_by_visitor ON events (site_id, visitor_id);
CREATE INDEX events_by_customer ON events (site_id, customer_id) WHERE customer_id IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN label TEXT;
-- `read` keys read reports and exports; `admin` keys may also erase a respondent's data.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'read' CHECK (scope IN ('read', 'admin'));
