-- Surveys: a site's survey configuration; which survey each answer belongs to (answers stored
-- before surveys belong to the default survey, `nps`); showings and dismissals; where a session
-- came from (referrer, UTM) and the language and device of an answer. The NPS rollups gain the
-- survey, so a report of one survey still reads hours rather than rows.

CREATE TABLE site_surveys (
    site_id     BIGINT PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    -- The configuration (touchstone_shared::survey::SiteSurveys), as the widget reads it.
    config      JSONB  NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE events
    ADD COLUMN survey       TEXT,
    ADD COLUMN referrer     TEXT,
    ADD COLUMN utm_source   TEXT,
    ADD COLUMN utm_medium   TEXT,
    ADD COLUMN utm_campaign TEXT,
    ADD COLUMN utm_term     TEXT,
    ADD COLUMN utm_content  TEXT,
    ADD COLUMN language     TEXT,
    ADD COLUMN device       TEXT CHECK (device IN ('mobile', 'tablet', 'desktop'));

UPDATE events SET survey = 'nps' WHERE kind = 'response';

ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('touchpoint', 'response', 'identify', 'shown', 'dismissal'));
ALTER TABLE events DROP CONSTRAINT events_check;
ALTER TABLE events ADD CONSTRAINT events_check
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL AND customer_id IS NULL AND survey IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND survey IS NOT NULL AND name IS NULL AND customer_id IS NULL)
        OR (kind = 'identify' AND customer_id IS NOT NULL AND name IS NULL AND score IS NULL AND survey IS NULL)
        OR (kind IN ('shown', 'dismissal') AND survey IS NOT NULL AND name IS NULL AND score IS NULL AND customer_id IS NULL));

ALTER TABLE nps_rollup ADD COLUMN survey TEXT NOT NULL DEFAULT 'nps';
ALTER TABLE nps_rollup ALTER COLUMN survey DROP DEFAULT;
ALTER TABLE nps_rollup DROP CONSTRAINT nps_rollup_pkey;
ALTER TABLE nps_rollup ADD PRIMARY KEY (site_id, survey, hour);

-- Site-wide reports add the surveys up hour by hour.
CREATE INDEX nps_rollup_by_hour ON nps_rollup (site_id, hour);
