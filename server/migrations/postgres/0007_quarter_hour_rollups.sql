-- Answer rollups by quarter hour instead of by hour. Every time zone in use is a whole number of
-- quarter hours from UTC, so the days, weeks and months of a trend in any zone (Asia/Kolkata at
-- +05:30, Asia/Kathmandu at +05:45) are read from the rollups alone. Hourly rows left the half
-- hour at each bucket edge to be counted from the raw answers: a year's daily trend in Kolkata
-- read about 420,000 raw rows. The rows are rebuilt from the answers themselves; the score bands
-- mirror touchstone_shared::Score::category. (Touchpoint rollups stay hourly: they are read for
-- whole periods, never bucketed.)

CREATE TABLE nps_rollup_new (
    site_id       BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    survey        TEXT   NOT NULL,
    -- The quarter hour's first millisecond since the epoch (UTC).
    quarter_hour  BIGINT NOT NULL,
    promoters     BIGINT NOT NULL DEFAULT 0,
    passives      BIGINT NOT NULL DEFAULT 0,
    detractors    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, survey, quarter_hour)
);

INSERT INTO nps_rollup_new (site_id, survey, quarter_hour, promoters, passives, detractors)
SELECT site_id, survey, (occurred_at / 900000) * 900000,
       COUNT(*) FILTER (WHERE score >= 9),
       COUNT(*) FILTER (WHERE score BETWEEN 7 AND 8),
       COUNT(*) FILTER (WHERE score <= 6)
FROM events WHERE kind = 'response'
GROUP BY site_id, survey, (occurred_at / 900000) * 900000;

DROP TABLE nps_rollup;
ALTER TABLE nps_rollup_new RENAME TO nps_rollup;
ALTER INDEX nps_rollup_new_pkey RENAME TO nps_rollup_pkey;

-- Site-wide reports add the surveys up quarter hour by quarter hour.
CREATE INDEX nps_rollup_by_quarter_hour ON nps_rollup (site_id, quarter_hour);

-- The rebuilt table has no statistics until autovacuum gets to it; without them the planner
-- guesses one row and picks nested loops for the trend.
ANALYZE nps_rollup;
