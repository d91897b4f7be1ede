//! Importing past answers from a CSV file, laid out as other NPS tools export them (Delighted,
//! SurveyMonkey, Typeform, Qualtrics…): a customer id or e-mail address, a score, a date and
//! perhaps a comment on each row. A team that switches to Touchstone keeps its history and its
//! trend.
//!
//! Imported answers are stored as events through [`Store::store_batches`], the path the
//! collector's answers take, so the rollups count them in the same transaction and
//! every report sees them. Each customer gets a synthetic visitor (an id derived from the site
//! and the customer id) with one `identify` event naming the customer, so revenue, traits and
//! privacy requests find the imported answers exactly as they find the widget's. Columns named
//! as traits (`trait.account=Company`) give that `identify` its traits, so segments and account
//! reports by trait see the imported answers too. Every id is derived from the row
//! ([`super::derived_id`]): importing the same file again stores nothing.

use super::{
    CUSTOMER_COLUMNS, CsvFile, DATE_COLUMNS, DateRules, ImportError, Problems, derived_id,
};
use crate::site::Site;
use crate::store::{IncomingBatch, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use touchstone_shared::wire::{Event, EventId, Timestamp, Traits, VisitorId};
use touchstone_shared::{Comment, CustomerId, Score, SurveyId, TraitName, TraitValue};
use utoipa::ToSchema;

/// Header names that hold the 0–10 answer.
const SCORE_COLUMNS: &[&str] = &[
    "score",
    "nps",
    "nps score",
    "net promoter score",
    "rating",
    "nps rating",
    "likelihood to recommend",
    "recommendation score",
    "ltr",
];

/// Header names that hold the answer to the follow-up question.
const COMMENT_COLUMNS: &[&str] = &[
    "comment",
    "comments",
    "feedback",
    "reason",
    "verbatim",
    "nps comment",
    "response comment",
    "open text",
    "open ended response",
    "additional comments",
    "follow up",
    "why",
];

/// Whether a header is the NPS question itself, as SurveyMonkey, Typeform and Qualtrics name
/// the column: "How likely are you to recommend Acme to a friend or colleague?".
fn is_score_question(header: &str) -> bool {
    header.contains("recommend") && (header.contains("likely") || header.contains("likelihood"))
}

/// Whether a header is a follow-up question: "Why did you give that score?", "What is the
/// primary reason for your score?".
fn is_comment_question(header: &str) -> bool {
    header.starts_with("why ")
        || header.contains("reason for your score")
        || header.starts_with("what is the main reason")
        || header.starts_with("what is the primary reason")
        || header.starts_with("what could we")
}

/// Which columns hold what, when the importer says so; the rest are found by their names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    /// The score's column.
    pub score: Option<String>,
    /// The date's column.
    pub date: Option<String>,
    /// The customer id's (or e-mail address's) column.
    pub customer: Option<String>,
    /// The comment's column.
    pub comment: Option<String>,
    /// Columns holding customer traits, by trait name (`trait.plan=Plan`).
    pub traits: Vec<(TraitName, String)>,
}

impl ColumnMap {
    /// Reads one `field=COLUMN` mapping, as `--map score="Likelihood"` gives it; the field
    /// `trait.NAME` names a column holding a customer trait.
    pub fn set(&mut self, mapping: &str) -> Result<(), String> {
        let (field, column) = mapping.split_once('=').ok_or_else(|| {
            format!("a mapping is FIELD=COLUMN, e.g. score=Rating, not {mapping:?}")
        })?;
        let column = Some(column.trim().to_owned()).filter(|column| !column.is_empty());
        if let Some(name) = field.trim().strip_prefix("trait.") {
            let name =
                TraitName::parse(name).map_err(|error| format!("`trait.{name}`: {error}"))?;
            self.traits.retain(|(known, _)| *known != name);
            if let Some(column) = column {
                if self.traits.len() >= Traits::MAX_ENTRIES {
                    return Err(format!(
                        "a customer has at most {} traits",
                        Traits::MAX_ENTRIES
                    ));
                }
                self.traits.push((name, column));
            }
            return Ok(());
        }
        let slot = match field.trim() {
            "score" => &mut self.score,
            "date" => &mut self.date,
            "customer" => &mut self.customer,
            "comment" => &mut self.comment,
            other => {
                return Err(format!(
                    "the fields are score, date, customer, comment and trait.NAME, not {other:?}"
                ));
            }
        };
        *slot = column;
        Ok(())
    }
}

/// What an import of answers needs beyond the file.
#[derive(Debug, Clone)]
pub struct AnswerImport {
    /// The survey the answers belong to.
    pub survey: SurveyId,
    /// Columns the importer named.
    pub columns: ColumnMap,
    /// How dates are read.
    pub dates: DateRules,
}

/// One answer read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAnswer {
    /// The customer who gave it.
    pub customer: CustomerId,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// The score.
    pub score: Score,
    /// The comment, if any.
    pub comment: Option<Comment>,
    /// The customer's traits on this row (empty cells left out).
    pub traits: BTreeMap<TraitName, TraitValue>,
}

/// What an import of answers did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerImportReceipt {
    /// The site's public key.
    pub site: String,
    /// The survey the answers belong to.
    #[schema(value_type = String)]
    pub survey: SurveyId,
    /// Answers in the file.
    pub rows: u64,
    /// Answers stored now.
    pub imported: u64,
    /// Answers that were already stored (an earlier import of the same rows, or the same row
    /// twice in the file), left as they were.
    pub already_present: u64,
    /// Different customers in the file.
    pub customers: u64,
    /// The earliest answer's time.
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    /// The latest answer's time.
    #[schema(value_type = String, format = DateTime)]
    pub to: jiff::Timestamp,
}

/// Reads every answer of a CSV file, or says what is wrong with it: a column that cannot be
/// found, and every bad cell, by line, row and column.
pub fn read(
    body: &[u8],
    columns: &ColumnMap,
    dates: &DateRules,
) -> Result<Vec<ImportedAnswer>, Problems> {
    let file = CsvFile::read(body)?;
    let mut problems = Problems::default();
    let mut find = |what: &str,
                    field: &str,
                    named: Option<&str>,
                    names: &[&str],
                    matches: fn(&str) -> bool,
                    required: bool| {
        match file.column(named, names, matches) {
            Ok(Some(column)) => Some(column),
            Ok(None) if required => {
                problems.push(super::Problem::file(
                    Some(1),
                    format!(
                        "no {what} column: name it with `{field}=COLUMN`; the columns are {}",
                        file.header_list()
                    ),
                ));
                None
            }
            Ok(None) => None,
            Err(message) => {
                problems.push(super::Problem::file(Some(1), message));
                None
            }
        }
    };
    let never = |_: &str| false;
    let score = find(
        "score",
        "score",
        columns.score.as_deref(),
        SCORE_COLUMNS,
        is_score_question,
        true,
    );
    let date = find(
        "date",
        "date",
        columns.date.as_deref(),
        DATE_COLUMNS,
        never,
        true,
    );
    let customer = find(
        "customer id or e-mail",
        "customer",
        columns.customer.as_deref(),
        CUSTOMER_COLUMNS,
        never,
        true,
    );
    let comment = find(
        "comment",
        "comment",
        columns.comment.as_deref(),
        COMMENT_COLUMNS,
        is_comment_question,
        false,
    );
    let mut trait_columns = Vec::new();
    for (name, header) in &columns.traits {
        match file.column(Some(header), &[], never) {
            Ok(Some(column)) => trait_columns.push((name, column)),
            Ok(None) => {}
            Err(message) => problems.push(super::Problem::file(Some(1), message)),
        }
    }
    let (Some(score), Some(date), Some(customer)) = (score, date, customer) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut answers = Vec::new();
    for (line, row, cells) in file.rows() {
        let problem =
            |column: Option<usize>, message: String| file.problem(line, row, column, message);
        if cells.len() > file.width() {
            problems.push(problem(
                None,
                format!(
                    "the row has {} cells and the header {} columns (a separator in an unquoted text?)",
                    cells.len(),
                    file.width()
                ),
            ));
            continue;
        }
        let cell = |column: usize| cells.get(column).unwrap_or_default();
        let customer_id =
            CustomerId::parse(cell(customer)).map_err(|error| (customer, error.to_string()));
        let score_value = parse_score(cell(score)).map_err(|message| (score, message));
        let at = dates.millis(cell(date)).map_err(|message| (date, message));
        let comment_text = match comment {
            Some(column) => {
                Comment::parse_optional(cell(column)).map_err(|error| (column, error.to_string()))
            }
            None => Ok(None),
        };
        let mut traits = BTreeMap::new();
        let mut bad_traits = Vec::new();
        for (name, column) in &trait_columns {
            match cell(*column).trim() {
                "" => {}
                value => match TraitValue::parse(value) {
                    Ok(value) => {
                        traits.insert((*name).clone(), value);
                    }
                    Err(error) => bad_traits.push((*column, error.to_string())),
                },
            }
        }
        match (customer_id, score_value, at, comment_text) {
            (Ok(customer), Ok(score), Ok(at), Ok(comment)) if bad_traits.is_empty() => {
                answers.push(ImportedAnswer {
                    customer,
                    at,
                    score,
                    comment,
                    traits,
                });
            }
            (customer, score, at, comment) => {
                let wrong = [customer.err(), score.err(), at.err(), comment.err()];
                for (column, message) in wrong.into_iter().flatten().chain(bad_traits) {
                    problems.push(problem(Some(column), message));
                }
            }
        }
    }
    problems.or_ok(answers)
}

/// A score cell: a whole number from 0 to 10.
fn parse_score(text: &str) -> Result<Score, String> {
    let text = text.trim();
    let refused = || {
        format!(
            "a score is a whole number from 0 to 10, not {:?}",
            super::truncated(text)
        )
    };
    if text.is_empty() {
        return Err("the score is missing".to_owned());
    }
    if text.len() > 2 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(refused());
    }
    let value: u8 = text.parse().map_err(|_| refused())?;
    Score::try_from(value).map_err(|_| refused())
}

/// The synthetic visitor that stands for `customer`'s imported answers on `site`.
pub fn visitor_of(site: &Site, customer: &CustomerId) -> VisitorId {
    VisitorId(derived_id(&[
        b"import-visitor",
        site.key.as_str().as_bytes(),
        customer.as_str().as_bytes(),
    ]))
}

/// The event id of an imported answer: derived from the site, the customer, the time, the
/// score and the comment, so the same row imported twice is one answer.
fn answer_id(site: &Site, answer: &ImportedAnswer) -> EventId {
    EventId(derived_id(&[
        b"import-response",
        site.key.as_str().as_bytes(),
        answer.customer.as_str().as_bytes(),
        &answer.at.to_be_bytes(),
        &[answer.score.value()],
        answer
            .comment
            .as_ref()
            .map_or(&b""[..], |comment| comment.as_str().as_bytes()),
    ]))
}

/// The answers as collect batches: first one batch per customer with the `identify` of their
/// synthetic visitor, then one per customer with their answers. Returns the batches and how
/// many of them are identities.
///
/// The `identify` carries the customer's traits (a later row's value wins) and is dated at
/// their latest answer in the file; its id is derived from the customer and the traits, so the
/// same file adds nothing while a later file with other traits adds a newer `identify`, whose
/// traits the reports then use.
pub fn batches(
    site: &Site,
    survey: &SurveyId,
    answers: Vec<ImportedAnswer>,
    received_at: i64,
) -> (Vec<IncomingBatch>, usize) {
    // Taken by value, so the comments move into the events instead of being copied: a large
    // file's answers are held once, not twice.
    let mut by_customer: BTreeMap<CustomerId, Vec<ImportedAnswer>> = BTreeMap::new();
    for answer in answers {
        by_customer
            .entry(answer.customer.clone())
            .or_default()
            .push(answer);
    }
    let time = |millis: i64| {
        Timestamp::try_from(millis).unwrap_or_else(|_| unreachable!("dates were checked"))
    };
    let mut identities = Vec::with_capacity(by_customer.len());
    let mut responses = Vec::with_capacity(by_customer.len());
    for (customer, mut answers) in by_customer {
        let visitor = visitor_of(site, &customer);
        answers.sort_by_key(|answer| answer.at);
        let latest = answers.last().map_or(0, |answer| answer.at);
        let mut traits = BTreeMap::new();
        for answer in &mut answers {
            traits.append(&mut answer.traits);
        }
        let mut traits_key = Vec::new();
        for (name, value) in &traits {
            let (name, value): (&TraitName, &TraitValue) = (name, value);
            traits_key.extend_from_slice(name.as_str().as_bytes());
            traits_key.push(0);
            traits_key.extend_from_slice(value.as_str().as_bytes());
            traits_key.push(0);
        }
        let events = answers
            .into_iter()
            .map(|answer| Event::Response {
                id: answer_id(site, &answer),
                at: time(answer.at),
                score: answer.score,
                comment: answer.comment,
                survey: survey.clone(),
                language: None,
                device: None,
            })
            .collect();
        responses.push(IncomingBatch {
            site_id: site.id,
            visitor,
            events,
            received_at,
            // Answers from the past, imported now, are history: nobody is paged about them.
            watched: false,
        });
        identities.push(IncomingBatch {
            site_id: site.id,
            visitor,
            events: vec![Event::Identify {
                id: EventId(derived_id(&[
                    b"import-identify",
                    site.key.as_str().as_bytes(),
                    customer.as_str().as_bytes(),
                    &traits_key,
                ])),
                at: time(latest),
                customer,
                traits: Traits::try_from(traits)
                    .unwrap_or_else(|_| unreachable!("at most MAX_ENTRIES trait columns")),
            }],
            received_at,
            watched: false,
        });
    }
    let count = identities.len();
    identities.extend(responses);
    (identities, count)
}

/// Reads `body` and stores its answers for `site` in one transaction, or stores nothing.
#[tracing::instrument(skip_all, fields(site = %site.key))]
pub async fn import(
    store: &dyn Store,
    site: &Site,
    body: &[u8],
    settings: &AnswerImport,
) -> Result<AnswerImportReceipt, ImportError> {
    let answers = read(body, &settings.columns, &settings.dates)?;
    let rows = answers.len() as u64;
    let instant = |millis: Option<i64>| {
        jiff::Timestamp::from_millisecond(millis.unwrap_or_default()).unwrap_or_default()
    };
    let (from, to) = (
        instant(answers.iter().map(|answer| answer.at).min()),
        instant(answers.iter().map(|answer| answer.at).max()),
    );
    let received_at = settings.dates.now.as_millisecond();
    let (batches, identities) = batches(site, &settings.survey, answers, received_at);
    let outcomes = store.store_batches(&batches).await?;
    let imported: u64 = outcomes[identities..]
        .iter()
        .map(|outcome| outcome.new)
        .sum();
    let receipt = AnswerImportReceipt {
        site: site.key.to_string(),
        survey: settings.survey.clone(),
        rows,
        imported,
        already_present: rows - imported,
        customers: identities as u64,
        from,
        to,
    };
    tracing::info!(
        rows = receipt.rows,
        imported = receipt.imported,
        "imported answers"
    );
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn rules() -> DateRules {
        DateRules {
            time_zone: TimeZone::UTC,
            now: "2026-11-20T00:00:00Z".parse().unwrap(),
        }
    }

    fn read_text(text: &str, columns: &ColumnMap) -> Result<Vec<ImportedAnswer>, Problems> {
        read(text.as_bytes(), columns, &rules())
    }

    #[test]
    fn a_delighted_export_reads() {
        let answers = read_text(
            "Response ID,Email,Score,Comment,Created At,Properties\n\
             1,anna@example.com,10,Great,2026-03-04 15:22:11,x\n\
             2,bob@example.com,3,,2026-03-05 08:00:00,\n",
            &ColumnMap::default(),
        )
        .unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].customer.as_str(), "anna@example.com");
        assert_eq!(answers[0].score.value(), 10);
        assert_eq!(answers[0].comment.as_ref().unwrap().as_str(), "Great");
        assert_eq!(answers[1].comment, None);
    }

    #[test]
    fn survey_tools_questions_are_found_as_columns() {
        let answers = read_text(
            "Respondent ID,Date Submitted,User ID,How likely are you to recommend Acme to a friend or colleague?,Why did you give that score?\n\
             77,2026-01-02T10:00:00Z,u-1,9,Fast\n",
            &ColumnMap::default(),
        )
        .unwrap();
        assert_eq!(answers[0].customer.as_str(), "u-1");
        assert_eq!(answers[0].score.value(), 9);
        assert_eq!(answers[0].comment.as_ref().unwrap().as_str(), "Fast");
    }

    #[test]
    fn named_columns_win_over_the_guesses() {
        let mut columns = ColumnMap::default();
        for mapping in ["score=Q1", "date=When", "customer=Who", "comment=Q2"] {
            columns.set(mapping).unwrap();
        }
        let answers = read_text("Score,Q1,When,Who,Q2\n1,8,2026-01-02,c-9,ok\n", &columns).unwrap();
        assert_eq!(answers[0].score.value(), 8);
        assert_eq!(answers[0].customer.as_str(), "c-9");
        assert!(columns.set("scor=Q1").is_err());
        assert!(columns.set("score").is_err());
        let missing = read_text(
            "Score,Q1,When,Who\n1,8,2026-01-02,c\n",
            &ColumnMap {
                score: Some("Nope".into()),
                ..ColumnMap::default()
            },
        )
        .unwrap_err();
        assert!(
            missing.listed()[0].message.contains("no column \"Nope\""),
            "{missing}"
        );
    }

    #[test]
    fn trait_columns_give_the_identity_its_traits_latest_row_first() {
        let mut columns = ColumnMap::default();
        columns.set("trait.account=Company").unwrap();
        columns.set("trait.plan=Plan").unwrap();
        assert!(columns.set("trait.Bad Name=X").is_err());
        let answers = read_text(
            "email,score,date,Company,Plan\n\
             a@x,9,2026-01-02,Acme,pro\n\
             a@x,3,2026-01-01,Acme Old,starter\n\
             b@x,7,2026-01-01,,\n",
            &columns,
        )
        .unwrap();
        assert_eq!(answers[2].traits.len(), 0, "blank cells are no traits");
        let site = Site {
            id: 1,
            key: touchstone_shared::SiteKey::parse("demo").unwrap(),
            name: "Demo".into(),
            origins: Vec::new(),
        };
        let (batches, _) = batches(&site, &SurveyId::default(), answers.clone(), 0);
        let Event::Identify { traits, at, .. } = &batches[0].events[0] else {
            panic!("an identify first");
        };
        let traits: Vec<(&str, &str)> = traits
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(traits, [("account", "Acme"), ("plan", "pro")]);
        assert_eq!(at.millis(), answers[0].at, "dated at the latest answer");
        let without_plan = "email,score,date,Company\na@x,9,2026-01-02,Acme\n";
        let missing = read_text(without_plan, &columns).unwrap_err();
        assert!(
            missing.listed()[0].message.contains("no column \"Plan\""),
            "{missing}"
        );
        columns.set("trait.plan=").unwrap();
        assert!(
            read_text(without_plan, &columns).is_ok(),
            "an empty mapping drops it"
        );
        let too_long = format!(
            "email,score,date,Company\na@x,9,2026-01-02,{}\n",
            "x".repeat(300)
        );
        let bad = read_text(&too_long, &columns).unwrap_err();
        assert_eq!(bad.listed()[0].column.as_deref(), Some("Company"));
        assert_eq!(bad.listed()[0].line, Some(2));
    }

    #[test]
    fn bad_cells_are_reported_by_line_row_and_column() {
        let problems = read_text(
            "email,score,date\n\
             a@x,9,2026-01-01\n\
             b@x,10,2026-01-02\n\
             c@x,11,2026-01-03\n\
             ,7,someday\n",
            &ColumnMap::default(),
        )
        .unwrap_err();
        assert_eq!(problems.count(), 3);
        let first = &problems.listed()[0];
        assert_eq!((first.line, first.row), (Some(4), Some(3)));
        assert_eq!(first.column.as_deref(), Some("score"));
        assert!(first.message.contains("not \"11\""), "{}", first.message);
        let columns: Vec<_> = problems.listed()[1..]
            .iter()
            .map(|problem| (problem.line, problem.column.clone().unwrap()))
            .collect();
        assert_eq!(
            columns,
            [(Some(5), "email".to_owned()), (Some(5), "date".to_owned())]
        );
    }

    #[test]
    fn a_file_without_the_needed_columns_says_which() {
        let problems = read_text("foo,bar\n1,2\n", &ColumnMap::default()).unwrap_err();
        assert_eq!(problems.count(), 3);
        assert!(problems.listed()[0].message.contains("no score column"));
        assert!(problems.listed()[0].message.contains("\"foo\", \"bar\""));
    }

    #[test]
    fn scores_are_whole_numbers_from_0_to_10() {
        for good in ["0", "10", " 7 ", "09"] {
            assert!(parse_score(good).is_ok(), "{good}");
        }
        for bad in ["", "11", "-1", "9.5", "nine", "100", "١"] {
            assert!(parse_score(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_rows_give_the_same_ids_and_one_identity_per_customer() {
        let site = Site {
            id: 1,
            key: touchstone_shared::SiteKey::parse("demo").unwrap(),
            name: "Demo".into(),
            origins: Vec::new(),
        };
        let text = "email,score,date,comment\na@x,9,2026-01-01,\na@x,3,2026-01-02,=1+1\nb@x,7,2026-01-01,\n";
        let answers = read_text(text, &ColumnMap::default()).unwrap();
        let survey = SurveyId::default();
        let (first, identities) = batches(&site, &survey, answers.clone(), 0);
        let (again, _) = batches(&site, &survey, answers.clone(), 5);
        assert_eq!(identities, 2);
        assert_eq!(first.len(), 4);
        let ids = |batches: &[IncomingBatch]| -> Vec<uuid::Uuid> {
            batches
                .iter()
                .flat_map(|batch| batch.events.iter().map(|event| event.id().0))
                .collect()
        };
        assert_eq!(ids(&first), ids(&again));
        // The identify is dated at the customer's latest answer.
        assert_eq!(first[0].events[0].at().millis(), answers[1].at);
        // A formula-looking comment is kept as text.
        assert!(first[2].events.iter().any(|event| matches!(
            event,
            Event::Response { comment: Some(comment), .. } if comment.as_str() == "=1+1"
        )));
        let other_site = Site {
            key: touchstone_shared::SiteKey::parse("other").unwrap(),
            ..site.clone()
        };
        let (elsewhere, _) = batches(&other_site, &survey, answers.clone(), 0);
        assert!(ids(&elsewhere).iter().all(|id| !ids(&first).contains(id)));
    }
}
