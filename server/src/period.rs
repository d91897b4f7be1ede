//! The period a report covers, from the `from` and `to` query parameters.
//!
//! Each bound is a date (`2026-11-01`, a whole UTC day, or a whole day in the report's time zone
//! where it has one) or an RFC 3339 instant (`2026-11-01T09:30:00Z`). `from` is inclusive; a `to`
//! date includes that whole day, a `to` instant is exclusive. A missing bound leaves that side
//! open.

use crate::error::ApiError;
use crate::store::TimeRange;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The raw query parameters, parsed by [`Period::parse`].
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// The start, inclusive: a date like `2026-11-01` (from 00:00 UTC) or an RFC 3339 instant.
    /// Left out: since the beginning.
    pub from: Option<String>,
    /// The end: a date includes that whole UTC day, an RFC 3339 instant is exclusive. Left out:
    /// until now and beyond.
    pub to: Option<String>,
}

/// A checked period: `from < to` where both are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Period {
    /// The first instant included, or `None` (null) for "since the beginning".
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// The first instant excluded, or `None` (null) for "until now and beyond".
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

impl Period {
    /// Parses the query parameters, dates as whole UTC days.
    pub fn parse(params: &PeriodParams) -> Result<Self, ApiError> {
        Self::parse_in(params, &TimeZone::UTC)
    }

    /// Parses the query parameters, dates as whole days in `time_zone` (a day starts at its
    /// first instant there, even when a DST change skips midnight).
    pub fn parse_in(params: &PeriodParams, time_zone: &TimeZone) -> Result<Self, ApiError> {
        let from = params
            .from
            .as_deref()
            .map(|text| bound("from", text, Side::Start, time_zone))
            .transpose()?;
        let to = params
            .to
            .as_deref()
            .map(|text| bound("to", text, Side::End, time_zone))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ApiError::InvalidParameter(format!(
                "`from` ({from}) must be before `to` ({to})"
            )));
        }
        Ok(Period { from, to })
    }

    /// The period as milliseconds, open ends stretched to the whole representable range.
    pub fn range(&self) -> TimeRange {
        TimeRange {
            from: self.from.map_or(i64::MIN, |from| from.as_millisecond()),
            to: self.to.map_or(i64::MAX, |to| to.as_millisecond()),
        }
    }
}

/// How far before an answer the journey-based reports look (`window_days`): 1 to
/// [`JourneyWindow::MAX_DAYS`] days, [`JourneyWindow::DEFAULT_DAYS`] unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JourneyWindow(u16);

impl JourneyWindow {
    /// The window when the client names none.
    pub const DEFAULT_DAYS: u16 = 30;
    /// The longest window.
    pub const MAX_DAYS: u16 = 365;

    /// Checks the `window_days` parameter.
    pub fn parse(days: Option<u16>) -> Result<Self, ApiError> {
        let days = days.unwrap_or(Self::DEFAULT_DAYS);
        if (1..=Self::MAX_DAYS).contains(&days) {
            Ok(JourneyWindow(days))
        } else {
            Err(ApiError::InvalidParameter(format!(
                "`window_days` is 1 to {}, not {days}",
                Self::MAX_DAYS
            )))
        }
    }

    /// The window in days.
    pub fn days(self) -> u16 {
        self.0
    }

    /// The window in milliseconds.
    pub fn millis(self) -> i64 {
        i64::from(self.0) * 86_400_000
    }
}

enum Side {
    Start,
    End,
}

fn bound(name: &str, text: &str, side: Side, time_zone: &TimeZone) -> Result<Timestamp, ApiError> {
    let invalid = || {
        ApiError::InvalidParameter(format!(
            "`{name}` must be a date like 2026-11-01 or an RFC 3339 time like 2026-11-01T09:30:00Z, not {text:?}"
        ))
    };
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let date: Date = text.parse().map_err(|_| invalid())?;
    let day = match side {
        Side::Start => date,
        Side::End => date.tomorrow().map_err(|_| invalid())?,
    };
    Ok(day
        .to_zoned_datetime(time_zone.clone())
        .map_err(|_| invalid())?
        .timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: Option<&str>, to: Option<&str>) -> PeriodParams {
        PeriodParams {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    #[test]
    fn a_to_date_includes_that_whole_day() {
        let period = Period::parse(&params(Some("2026-11-01"), Some("2026-11-01"))).unwrap();
        assert_eq!(period.from.unwrap().to_string(), "2026-11-01T00:00:00Z");
        assert_eq!(period.to.unwrap().to_string(), "2026-11-02T00:00:00Z");
    }

    #[test]
    fn instants_are_taken_as_given() {
        let period = Period::parse(&params(Some("2026-11-01T09:30:00+01:00"), None)).unwrap();
        assert_eq!(period.from.unwrap().to_string(), "2026-11-01T08:30:00Z");
        assert_eq!(period.range().to, i64::MAX);
    }

    #[test]
    fn nonsense_and_backwards_periods_are_refused() {
        assert!(Period::parse(&params(Some("yesterday"), None)).is_err());
        assert!(Period::parse(&params(None, Some("2026-13-01"))).is_err());
        assert!(Period::parse(&params(Some("2026-11-02"), Some("2026-11-01"))).is_err());
    }

    #[test]
    fn dates_are_whole_days_in_the_time_zone_asked_for() {
        let paris = jiff::tz::db().get("Europe/Paris").unwrap();
        let period =
            Period::parse_in(&params(Some("2026-03-29"), Some("2026-03-29")), &paris).unwrap();
        // The day the clocks go forward is 23 hours long.
        assert_eq!(period.from.unwrap().to_string(), "2026-03-28T23:00:00Z");
        assert_eq!(period.to.unwrap().to_string(), "2026-03-29T22:00:00Z");
    }

    #[test]
    fn no_bounds_means_all_time() {
        let range = Period::parse(&params(None, None)).unwrap().range();
        assert_eq!((range.from, range.to), (i64::MIN, i64::MAX));
    }
}
