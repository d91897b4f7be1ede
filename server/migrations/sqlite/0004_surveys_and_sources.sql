-- Surveys: a site's survey configuration; which survey each answer belongs to (answers stored
-- before surveys belong to the default survey, `nps`); showings and dismissals; where a session
-- came from (referrer, UTM) and the language and device of an answer. The NPS rollups gain the
-- survey, so a report of one survey still reads hours rather than rows.
--
-- SQLite cannot change a CHECK constraint or a primary key in place, so both tables are rebuilt.

CREATE TABLE site_surveys (
    site_id     INTEGER PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    -- The configuration as JSON (touchstone_shared::survey::SiteSurveys), as the widget reads it.
    config      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE events_new (
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_id      BLOB    NOT NULL,
    visitor_id    BLOB    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('touchpoint', 'response', 'identify', 'shown', 'dismissal')),
    occurred_at   INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    name          TEXT,
    url           TEXT,
    score         INTEGER CHECK (score BETWEEN 0 AND 10),
    comment       TEXT,
    customer_id   TEXT,
    -- A JSON object of trait names to text values.
    traits        TEXT,
    survey        TEXT,
    referrer      TEXT,
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    utm_term      TEXT,
    utm_content   TEXT,
    language      TEXT,
    device        TEXT CHECK (device IN ('mobile', 'tablet', 'desktop')),
    PRIMARY KEY (site_id, event_id),
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL AND customer_id IS NULL AND survey IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND survey IS NOT NULL AND name IS NULL AND customer_id IS NULL)
        OR (kind = 'identify' AND customer_id IS NOT NULL AND name IS NULL AND score IS NULL AND survey IS NULL)
        OR (kind IN ('shown', 'dismissal') AND survey IS NOT NULL AND name IS NULL AND score IS NULL AND customer_id IS NULL))
);

INSERT INTO events_new (site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment, customer_id, traits, survey)
SELECT site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment, customer_id, traits,
       CASE WHEN kind = 'response' THEN 'nps' END
FROM events;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE INDEX events_by_kind_and_time ON events (site_id, kind, occurred_at);
CREATE INDEX events_by_visitor ON events (site_id, visitor_id);
CREATE INDEX events_by_customer ON events (site_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE nps_rollup_new (
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    survey      TEXT    NOT NULL,
    hour        INTEGER NOT NULL,
    promoters   INTEGER NOT NULL DEFAULT 0,
    passives    INTEGER NOT NULL DEFAULT 0,
    detractors  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, survey, hour)
);

INSERT INTO nps_rollup_new (site_id, survey, hour, promoters, passives, detractors)
SELECT site_id, 'nps', hour, promoters, passives, detractors FROM nps_rollup;

DROP TABLE nps_rollup;
ALTER TABLE nps_rollup_new RENAME TO nps_rollup;

-- Site-wide reports add the surveys up hour by hour.
CREATE INDEX nps_rollup_by_hour ON nps_rollup (site_id, hour);
