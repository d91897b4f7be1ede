//! Cutting a period into calendar buckets — days, ISO weeks (from Monday) or months — in a time
//! zone, for the NPS trend.
//!
//! Bucket edges are local midnights worked out with jiff's time-zone rules: a day is 23 or 25
//! hours long where the clocks change, and a day in a +05:30 zone starts at half past a UTC hour.
//! The first and last buckets are clipped to the period, so a point counts exactly the answers
//! between its own start and end.

use crate::error::ApiError;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};
use serde::Serialize;

/// The most points one trend may have: a daily trend of almost three years, a monthly one of
/// 83 years. It bounds the work and the answer of a single request.
pub const MAX_POINTS: usize = 1_000;

/// How long each point of a trend is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// From one local midnight to the next.
    #[default]
    Day,
    /// From one Monday's local midnight to the next (ISO 8601 weeks).
    Week,
    /// From the local midnight of the first of a month to the next.
    Month,
}

impl Bucket {
    /// Reads `day`, `week` or `month`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            "month" => Ok(Bucket::Month),
            _ => Err(ApiError::InvalidParameter(format!(
                "`bucket` must be day, week or month, not {text:?}"
            ))),
        }
    }

    /// The first day of the bucket `date` falls in.
    fn first_day(self, date: Date) -> Result<Date, jiff::Error> {
        match self {
            Bucket::Day => Ok(date),
            Bucket::Week => {
                date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
            }
            Bucket::Month => Ok(date.first_of_month()),
        }
    }

    /// The first day of the bucket after the one starting on `first_day`.
    fn next_first_day(self, first_day: Date) -> Result<Date, jiff::Error> {
        match self {
            Bucket::Day => first_day.tomorrow(),
            Bucket::Week => first_day.checked_add(1.week()),
            Bucket::Month => first_day.checked_add(1.month()),
        }
    }
}

/// The time zone named `name` (an IANA name such as `Europe/Paris`, or `UTC`), from the system's
/// time-zone database.
pub fn time_zone(name: &str) -> Result<TimeZone, ApiError> {
    if name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    jiff::tz::db().get(name).map_err(|_| {
        ApiError::InvalidParameter(format!(
            "`tz` must be an IANA time zone such as Europe/Paris or UTC, not {name:?}"
        ))
    })
}

/// The edges of the buckets that cover `from..to` in `time_zone`: `from` first, `to` last, and
/// between them every start of a bucket after `from` and before `to`. At most [`MAX_POINTS`]
/// buckets; more is an error, found without working out more than that many edges.
pub fn bucket_edges(
    from: Timestamp,
    to: Timestamp,
    bucket: Bucket,
    time_zone: &TimeZone,
) -> Result<Vec<ZonedDateTime>, ApiError> {
    if from >= to {
        return Err(ApiError::InvalidParameter(format!(
            "`from` ({from}) must be before `to` ({to})"
        )));
    }
    let out_of_range = |_| ApiError::InvalidParameter("the period is out of range".into());
    let first = from.to_zoned_datetime(time_zone.clone());
    let mut day = bucket.first_day(first.date()).map_err(out_of_range)?;
    let mut edges = vec![first];
    loop {
        day = bucket.next_first_day(day).map_err(out_of_range)?;
        // A midnight a DST change skips starts the day at the first instant after the gap.
        let start = day
            .to_zoned_datetime(time_zone.clone())
            .map_err(out_of_range)?;
        if start.timestamp() >= to {
            break;
        }
        if edges.len() == MAX_POINTS {
            return Err(ApiError::InvalidParameter(format!(
                "the trend would have more than {MAX_POINTS} points: choose a shorter period or a longer bucket"
            )));
        }
        edges.push(start);
    }
    edges.push(to.to_zoned_datetime(time_zone.clone()));
    Ok(edges)
}

/// An instant as RFC 3339 with the offset it has in its time zone, e.g.
/// `2026-03-29T00:00:00+01:00`.
pub fn rfc3339(instant: &ZonedDateTime) -> String {
    instant
        .timestamp()
        .display_with_offset(instant.offset())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn edges(from: &str, to: &str, bucket: Bucket, zone: &str) -> Vec<String> {
        bucket_edges(
            from.parse().unwrap(),
            to.parse().unwrap(),
            bucket,
            &time_zone(zone).unwrap(),
        )
        .unwrap()
        .iter()
        .map(rfc3339)
        .collect()
    }

    #[test]
    fn days_follow_the_clock_change_in_paris() {
        // 2026-03-29: clocks go from 02:00 to 03:00; 2026-10-25: from 03:00 back to 02:00.
        assert_eq!(
            edges(
                "2026-03-27T23:00:00Z",
                "2026-03-30T22:00:00Z",
                Bucket::Day,
                "Europe/Paris"
            ),
            [
                "2026-03-28T00:00:00+01:00",
                "2026-03-29T00:00:00+01:00",
                "2026-03-30T00:00:00+02:00",
                "2026-03-31T00:00:00+02:00",
            ]
        );
        let autumn = bucket_edges(
            "2026-10-24T22:00:00Z".parse().unwrap(),
            "2026-10-26T23:00:00Z".parse().unwrap(),
            Bucket::Day,
            &time_zone("Europe/Paris").unwrap(),
        )
        .unwrap();
        let hours: Vec<i64> = autumn
            .windows(2)
            .map(|pair| (pair[1].timestamp() - pair[0].timestamp()).as_hours())
            .collect();
        assert_eq!(hours, [25, 24]);
    }

    #[test]
    fn a_day_in_kolkata_starts_at_half_past_a_utc_hour() {
        assert_eq!(
            edges(
                "2026-11-01T00:00:00+05:30",
                "2026-11-03T00:00:00+05:30",
                Bucket::Day,
                "Asia/Kolkata"
            ),
            [
                "2026-11-01T00:00:00+05:30",
                "2026-11-02T00:00:00+05:30",
                "2026-11-03T00:00:00+05:30",
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_the_first_and_last_are_clipped() {
        // 2026-11-04 is a Wednesday; 2026-11-09 and 2026-11-16 are Mondays.
        assert_eq!(
            edges(
                "2026-11-04T00:00:00Z",
                "2026-11-18T12:00:00Z",
                Bucket::Week,
                "UTC"
            ),
            [
                "2026-11-04T00:00:00+00:00",
                "2026-11-09T00:00:00+00:00",
                "2026-11-16T00:00:00+00:00",
                "2026-11-18T12:00:00+00:00",
            ]
        );
    }

    #[test]
    fn months_start_on_the_first() {
        assert_eq!(
            edges(
                "2026-01-31T23:00:00Z",
                "2026-04-01T00:00:00Z",
                Bucket::Month,
                "UTC"
            ),
            [
                "2026-01-31T23:00:00+00:00",
                "2026-02-01T00:00:00+00:00",
                "2026-03-01T00:00:00+00:00",
                "2026-04-01T00:00:00+00:00",
            ]
        );
    }

    #[test]
    fn a_midnight_skipped_by_the_clocks_starts_the_day_after_the_gap() {
        // Santiago moved its clocks from 2025-09-06T24:00 to 01:00.
        assert_eq!(
            edges(
                "2025-09-05T12:00:00Z",
                "2025-09-07T12:00:00Z",
                Bucket::Day,
                "America/Santiago"
            )[1..3],
            ["2025-09-06T00:00:00-04:00", "2025-09-07T01:00:00-03:00"]
        );
    }

    #[test]
    fn too_many_points_unknown_zones_and_bad_buckets_are_refused() {
        let utc = TimeZone::UTC;
        let from: Timestamp = "2000-01-01T00:00:00Z".parse().unwrap();
        let days = |n: i64| from + jiff::SignedDuration::from_hours(24 * n);
        assert_eq!(
            bucket_edges(from, days(1_000), Bucket::Day, &utc)
                .unwrap()
                .len(),
            MAX_POINTS + 1
        );
        assert!(bucket_edges(from, days(1_001), Bucket::Day, &utc).is_err());
        assert!(bucket_edges(from, from, Bucket::Day, &utc).is_err());
        assert!(time_zone("Mars/Olympus_Mons").is_err());
        assert!(Bucket::parse("year").is_err());
        assert_eq!(Bucket::parse("week").unwrap(), Bucket::Week);
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Paris",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/Santiago",
        "Australia/Lord_Howe",
    ];

    proptest! {
        #[test]
        fn buckets_tile_the_period_and_start_at_local_bucket_starts(
            from in 0i64..4_000_000_000,
            length in 1i64..40_000_000,
            zone in 0..ZONES.len(),
            bucket in prop_oneof![Just(Bucket::Day), Just(Bucket::Week), Just(Bucket::Month)],
        ) {
            let tz = time_zone(ZONES[zone]).unwrap();
            let (from, to) = (
                Timestamp::from_second(from).unwrap(),
                Timestamp::from_second(from + length).unwrap(),
            );
            // At most 463 days: never too many points.
            let edges = bucket_edges(from, to, bucket, &tz).unwrap();
            prop_assert_eq!(edges.first().unwrap().timestamp(), from);
            prop_assert_eq!(edges.last().unwrap().timestamp(), to);
            for pair in edges.windows(2) {
                prop_assert!(pair[0].timestamp() < pair[1].timestamp());
            }
            for inner in &edges[1..edges.len() - 1] {
                let date = inner.date();
                prop_assert_eq!(bucket.first_day(date).unwrap(), date);
                // The first instant of that local day: a second earlier is the day before.
                let before = (inner.timestamp() - jiff::SignedDuration::from_secs(1))
                    .to_zoned_datetime(tz.clone());
                prop_assert!(before.date() < date);
            }
        }
    }
}
