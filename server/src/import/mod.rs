//! Importing what a site owner already has: past survey answers from another NPS tool
//! ([`responses`]) and revenue per customer ([`revenue`]), from the HTTP API and the CLI alike.
//!
//! Both are all or nothing. Every row is checked before anything is stored; a file with bad
//! rows is refused whole, with the first [`MAX_PROBLEMS`] problems and where they are (the
//! line of the file, counting the header as line 1, the data row, counting the first row after
//! the header as row 1, and the column), and what is stored goes in one transaction. Every row
//! gets an id derived from what it says ([`derived_id`]), so importing the same file twice
//! stores it once.
//!
//! This module holds what both imports share: the problems, the CSV reading (UTF-8, a header
//! row, columns found by the names other tools give them) and the dates.

pub mod responses;
pub mod revenue;

use crate::store::StoreError;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The largest file an import takes, in bytes: a few hundred thousand rows.
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

/// The most problems an error lists; the count says how many there were in all.
pub const MAX_PROBLEMS: usize = 20;

/// One thing wrong with an imported file, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// The line of a CSV file where the row starts, counting the header as line 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The data row of a CSV file, counting the first row after the header as row 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The position of the row in a JSON array, counting from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The column (a CSV header as written) or field (JSON) at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem with the file as a whole, or with its header (line 1).
    fn file(line: Option<u64>, message: impl Into<String>) -> Self {
        Problem {
            line,
            row: None,
            index: None,
            column: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut place = Vec::new();
        if let Some(line) = self.line {
            place.push(format!("line {line}"));
        }
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        if let Some(index) = self.index {
            place.push(format!("item {index}"));
        }
        if let Some(column) = &self.column {
            place.push(format!("{column:?}"));
        }
        if place.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", place.join(", "), self.message)
        }
    }
}

/// The problems found in a file: the first [`MAX_PROBLEMS`], and how many in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    listed: Vec<Problem>,
    count: usize,
}

impl Problems {
    /// A list of one problem.
    pub fn one(problem: Problem) -> Self {
        let mut problems = Problems::default();
        problems.push(problem);
        problems
    }

    /// Notes one more problem; only the first [`MAX_PROBLEMS`] are kept.
    pub fn push(&mut self, problem: Problem) {
        self.count += 1;
        if self.listed.len() < MAX_PROBLEMS {
            self.listed.push(problem);
        }
    }

    /// Whether none were found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first problems found, in the order of the file.
    pub fn listed(&self) -> &[Problem] {
        &self.listed
    }

    /// How many problems were found in all.
    pub fn count(&self) -> usize {
        self.count
    }

    /// `Ok(value)` when none were found.
    fn or_ok<T>(self, value: T) -> Result<T, Problems> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.listed.first().map(ToString::to_string);
        let plural = if self.count == 1 { "" } else { "s" };
        write!(
            f,
            "nothing was imported: {} problem{plural} found",
            self.count
        )?;
        if let Some(first) = first {
            write!(f, ", the first at {first}")?;
        }
        Ok(())
    }
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows that cannot be imported: nothing was stored.
    #[error("{0}")]
    Invalid(Problems),
    /// A JSON body that is not JSON.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The database failed: nothing was stored.
    #[error("storing the import")]
    Store(#[from] StoreError),
}

impl From<Problems> for ImportError {
    fn from(problems: Problems) -> Self {
        ImportError::Invalid(problems)
    }
}

/// How an import reads dates that do not say their offset, and what "now" is.
#[derive(Debug, Clone)]
pub struct DateRules {
    /// Dates and times without an offset are in this zone (UTC unless the importer says).
    pub time_zone: TimeZone,
    /// Nothing may be dated after this.
    pub now: Timestamp,
}

impl DateRules {
    /// Dates in UTC, up to now.
    pub fn utc_now() -> Self {
        DateRules {
            time_zone: TimeZone::UTC,
            now: Timestamp::now(),
        }
    }

    /// Dates without an offset in the IANA zone `name` (e.g. `Europe/Paris`), up to now.
    pub fn in_zone(name: Option<&str>) -> Result<Self, String> {
        let time_zone = match name {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| {
                format!(
                    "`tz` is an IANA time zone such as Europe/Paris, not {:?}",
                    truncated(name)
                )
            })?,
        };
        Ok(DateRules {
            time_zone,
            now: Timestamp::now(),
        })
    }

    /// Reads a date as other tools export them, in milliseconds since the epoch: an RFC 3339
    /// instant (`2026-11-01T09:30:00Z`, `2026-11-01 09:30:00+01:00`), a date and time with a
    /// numeric offset (`2026-11-01 09:30:00 +0100`), a date and time in the zone
    /// (`2026-11-01 09:30:00`, `2026-11-01T09:30`), or a date (`2026-11-01`, its first instant
    /// in the zone). Dates before 1970 or after now are refused.
    pub fn millis(&self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        let instant = text
            .parse::<Timestamp>()
            .ok()
            .or_else(|| {
                ["%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %:z"]
                    .iter()
                    .find_map(|format| Timestamp::strptime(format, text).ok())
            })
            .or_else(|| {
                let civil = text.parse::<DateTime>().ok().or_else(|| {
                    text.parse::<Date>()
                        .ok()
                        .map(|date| date.to_datetime(jiff::civil::Time::midnight()))
                })?;
                self.time_zone.to_timestamp(civil).ok()
            });
        let Some(instant) = instant else {
            return Err(if text.is_empty() {
                "the date is missing".to_owned()
            } else {
                format!(
                    "a date is written like 2026-11-01, 2026-11-01 09:30:00 or 2026-11-01T09:30:00Z, not {:?}",
                    truncated(text)
                )
            });
        };
        if instant > self.now {
            return Err(format!(
                "{} is in the future (a date without an offset is read in {}; say which zone with `tz`)",
                truncated(text),
                self.time_zone.iana_name().unwrap_or("UTC")
            ));
        }
        let millis = instant.as_millisecond();
        if millis < 0 {
            return Err(format!("{} is before 1970", truncated(text)));
        }
        Ok(millis)
    }
}

/// At most 60 characters of `text`, for messages that quote what was sent.
fn truncated(text: &str) -> String {
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// A stable id for a row, from the parts that make it what it is: the first 16 bytes of the
/// SHA-256 of the parts (each prefixed by its length, so `("ab", "c")` and `("a", "bc")` differ),
/// as a version 8 (custom) UUID. The same parts always give the same id.
pub fn derived_id(parts: &[&[u8]]) -> uuid::Uuid {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A CSV file read whole: its header, and its data rows with their line numbers.
#[derive(Debug)]
pub struct CsvFile {
    /// The header as written (trimmed).
    headers: Vec<String>,
    /// The header, normalised for matching (see [`normalize_header`]).
    normalized: Vec<String>,
    /// `(line, row, cells)` of every row that is not blank, in order; `row` counts the blank
    /// ones too (though not empty lines, which CSV does not count as rows).
    rows: Vec<(u64, u64, csv::StringRecord)>,
}

impl CsvFile {
    /// Reads `body` as UTF-8 CSV with a header row. The separator is `,`, or `;` or a tab when
    /// the header has those and no comma (spreadsheets in many locales export so). A byte-order
    /// mark is skipped; rows whose cells are all blank (a spreadsheet's trailing `,,,`) are left
    /// out.
    pub fn read(body: &[u8]) -> Result<Self, Problems> {
        let text = std::str::from_utf8(body).map_err(|error| {
            let line = body[..error.valid_up_to()]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count() as u64
                + 1;
            Problems::one(Problem::file(
                Some(line),
                "the file is not UTF-8 text: export it as CSV (UTF-8)",
            ))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.contains('\0') {
            return Err(Problems::one(Problem::file(
                None,
                "the file holds NUL bytes: it is not a CSV file",
            )));
        }
        let first_line = text.lines().next().unwrap_or_default();
        let delimiter = if first_line.contains(',') {
            b','
        } else if first_line.contains(';') {
            b';'
        } else if first_line.contains('\t') {
            b'\t'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(text.as_bytes());
        let unreadable = |error: csv::Error| {
            Problems::one(Problem::file(
                error.position().map(csv::Position::line),
                format!("the file cannot be read as CSV: {error}"),
            ))
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(unreadable)?
            .iter()
            .map(|header| header.trim().to_owned())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(Problems::one(Problem::file(
                Some(1),
                "the file is empty: the first line names the columns",
            )));
        }
        let mut rows = Vec::new();
        // Lines are counted from the byte where each row starts: the reader's own line count
        // misses some line breaks (inside quoted cells, empty lines), and a problem must point
        // at the line an editor shows.
        let (mut line, mut counted_to) = (1u64, 0usize);
        for (row, record) in (1..).zip(reader.records()) {
            let record = record.map_err(unreadable)?;
            let mut start = record
                .position()
                .map_or(counted_to, |position| position.byte() as usize)
                .clamp(counted_to, text.len());
            // The reader's position is where the previous row ended: empty lines between the
            // two belong to neither.
            while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
                start += 1;
            }
            line += text.as_bytes()[counted_to..start]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count() as u64;
            counted_to = start;
            if record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            rows.push((line, row, record));
        }
        if rows.is_empty() {
            return Err(Problems::one(Problem::file(
                Some(2),
                "the file has a header but no rows",
            )));
        }
        let normalized = headers
            .iter()
            .map(|header| normalize_header(header))
            .collect();
        Ok(CsvFile {
            headers,
            normalized,
            rows,
        })
    }

    /// The column the importer named (by its header, in any letter case), or else the first
    /// header that is one of `names` (normalised, in order of preference), or else the first
    /// whose normalised header `matches`. `Err` names the headers when a named column is not
    /// there.
    pub fn column(
        &self,
        named: Option<&str>,
        names: &[&str],
        matches: fn(&str) -> bool,
    ) -> Result<Option<usize>, String> {
        if let Some(named) = named {
            let wanted = normalize_header(named);
            return self
                .normalized
                .iter()
                .position(|header| *header == wanted)
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "there is no column {:?}; the columns are {}",
                        truncated(named),
                        self.header_list()
                    )
                });
        }
        let by_name = names
            .iter()
            .find_map(|name| self.normalized.iter().position(|header| header == name));
        Ok(by_name.or_else(|| self.normalized.iter().position(|header| matches(header))))
    }

    /// The header as written, for messages.
    pub fn header(&self, column: usize) -> &str {
        &self.headers[column]
    }

    /// Every header, quoted, for messages.
    pub fn header_list(&self) -> String {
        self.headers
            .iter()
            .take(40)
            .map(|header| format!("{:?}", truncated(header)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The data rows: `(line, row, cells)`.
    pub fn rows(&self) -> impl Iterator<Item = (u64, u64, &csv::StringRecord)> {
        self.rows
            .iter()
            .map(|(line, row, cells)| (*line, *row, cells))
    }

    /// How many columns the header has.
    pub fn width(&self) -> usize {
        self.headers.len()
    }

    /// A problem in a cell: line, row and column header.
    pub fn problem(&self, line: u64, row: u64, column: Option<usize>, message: String) -> Problem {
        Problem {
            line: Some(line),
            row: Some(row),
            index: None,
            column: column.map(|column| self.header(column).to_owned()),
            message,
        }
    }
}

/// A header as other tools write it, reduced for matching: lower-case, `_`, `-` and `.` as
/// spaces, punctuation such as `?`, `:`, `*` and quotes dropped, spaces collapsed. So
/// `Customer_ID`, `customer-id` and ` Customer ID ` are all `customer id`.
pub fn normalize_header(header: &str) -> String {
    let cleaned: String = header
        .chars()
        .filter_map(|c| match c {
            '_' | '-' | '.' | '/' => Some(' '),
            '?' | ':' | '*' | '"' | '\'' | '(' | ')' | '[' | ']' | '\u{feff}' => None,
            c => Some(c.to_lowercase().next().unwrap_or(c)),
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Header names that hold a customer id or e-mail address, most specific first (an id before
/// an e-mail address, when a file has both).
pub const CUSTOMER_COLUMNS: &[&str] = &[
    "customer id",
    "customerid",
    "customer",
    "customer ref",
    "customer reference",
    "external id",
    "externalreference",
    "external reference",
    "user id",
    "userid",
    "user",
    "account id",
    "contact id",
    "person id",
    "email",
    "e mail",
    "email address",
    "customer email",
    "recipient email",
    "recipientemail",
    "respondent email",
    "person email",
];

/// Header names that hold a date, most telling first.
pub const DATE_COLUMNS: &[&str] = &[
    "response date",
    "responded at",
    "submitted at",
    "date submitted",
    "submit date",
    "submission date",
    "recorded date",
    "recordeddate",
    "completed at",
    "end date",
    "enddate",
    "created at",
    "created",
    "date",
    "timestamp",
    "time",
    "start date",
    "startdate",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DateRules {
        DateRules {
            time_zone: TimeZone::UTC,
            now: "2026-11-20T00:00:00Z".parse().unwrap(),
        }
    }

    fn millis(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn dates_are_read_as_other_tools_write_them() {
        let rules = rules();
        let at = millis("2026-11-01T09:30:00Z");
        for text in [
            "2026-11-01T09:30:00Z",
            "2026-11-01T10:30:00+01:00",
            "2026-11-01 09:30:00Z",
            "2026-11-01 10:30:00+01:00",
            "2026-11-01 10:30:00 +0100",
            "2026-11-01 02:30:00 -07:00",
            "2026-11-01 09:30:00",
            "2026-11-01T09:30:00",
            "2026-11-01T09:30",
            " 2026-11-01 09:30:00.000 ",
        ] {
            assert_eq!(rules.millis(text), Ok(at), "{text}");
        }
        assert_eq!(
            rules.millis("2026-11-01"),
            Ok(millis("2026-11-01T00:00:00Z"))
        );
    }

    #[test]
    fn dates_without_an_offset_are_in_the_zone_asked_for() {
        let paris = DateRules {
            time_zone: TimeZone::get("Europe/Paris").unwrap(),
            ..rules()
        };
        assert_eq!(
            paris.millis("2026-07-01 12:00:00"),
            Ok(millis("2026-07-01T10:00:00Z"))
        );
        assert_eq!(
            paris.millis("2026-07-01"),
            Ok(millis("2026-06-30T22:00:00Z"))
        );
        // An offset in the text wins over the zone.
        assert_eq!(
            paris.millis("2026-07-01T12:00:00Z"),
            Ok(millis("2026-07-01T12:00:00Z"))
        );
        assert!(DateRules::in_zone(Some("Mars/Olympus")).is_err());
        assert!(DateRules::in_zone(Some("Europe/Paris")).is_ok());
    }

    #[test]
    fn nonsense_future_and_ancient_dates_are_refused() {
        let rules = rules();
        for text in [
            "",
            "yesterday",
            "01/11/2026",
            "2026-13-01",
            "2026-11-01 25:00:00",
            "=NOW()",
        ] {
            assert!(rules.millis(text).is_err(), "{text:?}");
        }
        let future = rules.millis("2026-12-01").unwrap_err();
        assert!(future.contains("in the future"), "{future}");
        let ancient = rules.millis("1969-12-31").unwrap_err();
        assert!(ancient.contains("before 1970"), "{ancient}");
    }

    #[test]
    fn headers_are_matched_loosely() {
        assert_eq!(normalize_header(" Customer_ID "), "customer id");
        assert_eq!(normalize_header("Created At"), "created at");
        assert_eq!(normalize_header("E-mail"), "e mail");
        assert_eq!(
            normalize_header("How likely are you to recommend Acme to a friend?"),
            "how likely are you to recommend acme to a friend"
        );
    }

    #[test]
    fn derived_ids_are_stable_and_tell_their_parts_apart() {
        let a = derived_id(&[b"ab", b"c"]);
        assert_eq!(a, derived_id(&[b"ab", b"c"]));
        assert_ne!(a, derived_id(&[b"a", b"bc"]));
        assert_eq!(a.get_version_num(), 8);
    }

    #[test]
    fn a_csv_file_keeps_the_lines_its_rows_start_on() {
        let file = CsvFile::read("\u{feff}Score;Comment\n9;\"two\nlines\"\n;\n\n3;x\n".as_bytes())
            .unwrap();
        let rows: Vec<(u64, u64)> = file.rows().map(|(line, row, _)| (line, row)).collect();
        // The blank `;` row is skipped but counted as a row; the empty line is only a line.
        assert_eq!(rows, [(2, 1), (6, 3)]);
        assert_eq!(file.header(0), "Score");
        assert_eq!(file.width(), 2);
    }

    #[test]
    fn files_that_are_not_csv_text_are_refused() {
        let binary = CsvFile::read(b"Score\n9\n\xff\xfe\x00\x01").unwrap_err();
        assert_eq!(binary.listed()[0].line, Some(3));
        assert!(CsvFile::read(b"").is_err());
        assert!(CsvFile::read(b"Score,Date\n").is_err());
        assert!(CsvFile::read(b"Score\n\0\n").is_err());
    }

    #[test]
    fn problems_keep_the_first_few_and_count_them_all() {
        let mut problems = Problems::default();
        for line in 0..(MAX_PROBLEMS as u64 + 5) {
            problems.push(Problem::file(Some(line), "bad"));
        }
        assert_eq!(problems.count(), MAX_PROBLEMS + 5);
        assert_eq!(problems.listed().len(), MAX_PROBLEMS);
        assert!(problems.to_string().contains("25 problems"), "{problems}");
    }
}
