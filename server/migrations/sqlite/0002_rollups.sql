-- Hourly rollups, kept in the same transaction as the raw events, so reports over long periods
-- read hours, not millions of rows. An hour is the bucket's first millisecond since the epoch
-- (UTC); hours rather than days so reports can be bucketed in any whole-hour time zone.

CREATE TABLE nps_rollup (
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hour        INTEGER NOT NULL,
    promoters   INTEGER NOT NULL DEFAULT 0,
    passives    INTEGER NOT NULL DEFAULT 0,
    detractors  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, hour)
);

CREATE TABLE touchpoint_rollup (
    site_id  INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    hour     INTEGER NOT NULL,
    count    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, name, hour)
);

-- Existing events, counted once. The score bands mirror touchstone_shared::Score::category.
INSERT INTO nps_rollup (site_id, hour, promoters, passives, detractors)
SELECT site_id, (occurred_at / 3600000) * 3600000,
       SUM(score >= 9), SUM(score BETWEEN 7 AND 8), SUM(score <= 6)
FROM events WHERE kind = 'response'
GROUP BY site_id, (occurred_at / 3600000) * 3600000;

INSERT INTO touchpoint_rollup (site_id, name, hour, count)
SELECT site_id, name, (occurred_at / 3600000) * 3600000, COUNT(*)
FROM events WHERE kind = 'touchpoint'
GROUP BY site_id, name, (occurred_at / 3600000) * 3600000;
