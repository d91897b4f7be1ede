//! Importing revenue per customer: rows of a customer id, an amount, its currency and a date,
//! as a JSON array or a CSV file.
//!
//! Amounts are read exactly into whole minor units of their ISO 4217 currency
//! ([`touchstone_shared::Currency`]); a currency Touchstone does not know, or more decimals
//! than the currency has, is a problem of the row, not a rounding. Negative amounts are
//! refunds. A row's id is derived from the client's own `id` for it (an invoice number) when
//! it gives one, and otherwise from the row's values (customer, currency, amount, date): so
//! posting the same rows again stores nothing, and two payments of the same amount by the same
//! customer on the same day need their own ids to count twice.

use super::{CUSTOMER_COLUMNS, CsvFile, DateRules, ImportError, Problem, Problems, derived_id};
use crate::site::Site;
use crate::store::{RevenueEntry, Store};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use touchstone_shared::{Currency, CustomerId};
use utoipa::ToSchema;

/// The longest client id of a row, in characters.
const MAX_REFERENCE_CHARS: usize = 128;

/// Header names that hold the amount.
const AMOUNT_COLUMNS: &[&str] = &[
    "amount",
    "revenue",
    "value",
    "total",
    "net amount",
    "amount paid",
    "price",
    "mrr",
    "sum",
];

/// Header names that hold the currency.
const CURRENCY_COLUMNS: &[&str] = &["currency", "currency code", "ccy", "cur"];

/// Header names that hold the date of the revenue.
const REVENUE_DATE_COLUMNS: &[&str] = &[
    "date",
    "paid at",
    "payment date",
    "invoice date",
    "created at",
    "created",
    "period",
    "timestamp",
];

/// Header names that hold the client's own id for the row.
const ID_COLUMNS: &[&str] = &[
    "id",
    "invoice",
    "invoice id",
    "invoice number",
    "transaction id",
    "payment id",
    "charge id",
    "order id",
    "reference",
];

/// What an import of revenue did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevenueImportReceipt {
    /// The site's public key.
    pub site: String,
    /// Rows sent.
    pub rows: u64,
    /// Rows stored now.
    pub imported: u64,
    /// Rows already stored (the same id or, without ids, the same values), left as they were.
    pub already_present: u64,
    /// Different customers in the rows.
    pub customers: u64,
    /// The currencies of the rows, in code order.
    pub currencies: Vec<String>,
    /// The earliest row's date.
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    /// The latest row's date.
    #[schema(value_type = String, format = DateTime)]
    pub to: jiff::Timestamp,
}

/// The fields of one row, as text, before they are checked.
struct RawRow<'a> {
    customer: &'a str,
    amount: &'a str,
    currency: &'a str,
    date: &'a str,
    reference: Option<&'a str>,
}

/// Which field of a row a problem is in.
#[derive(Debug, Clone, Copy)]
enum Field {
    Customer,
    Amount,
    Currency,
    Date,
    Id,
}

/// Checks one row; the problems come with the field they are in.
fn entry(
    site: &Site,
    raw: &RawRow<'_>,
    dates: &DateRules,
) -> Result<RevenueEntry, Vec<(Field, String)>> {
    let mut problems = Vec::new();
    let customer = CustomerId::parse(raw.customer)
        .map_err(|error| problems.push((Field::Customer, error.to_string())))
        .ok();
    let currency = Currency::parse(raw.currency)
        .map_err(|error| {
            let message = if raw.currency.trim().is_empty() {
                "the currency is missing".to_owned()
            } else {
                error.to_string()
            };
            problems.push((Field::Currency, message));
        })
        .ok();
    let amount = match currency {
        Some(currency) if raw.amount.trim().is_empty() => {
            problems.push((
                Field::Amount,
                format!("the amount in {currency} is missing"),
            ));
            None
        }
        Some(currency) => currency
            .parse_amount(raw.amount)
            .map_err(|error| problems.push((Field::Amount, error.to_string())))
            .ok(),
        None => None,
    };
    let at = dates
        .millis(raw.date)
        .map_err(|message| problems.push((Field::Date, message)))
        .ok();
    let reference = raw
        .reference
        .map(str::trim)
        .filter(|reference| !reference.is_empty());
    if let Some(reference) = reference {
        if reference.chars().nth(MAX_REFERENCE_CHARS).is_some() {
            problems.push((
                Field::Id,
                format!("an id is at most {MAX_REFERENCE_CHARS} characters"),
            ));
        } else if reference.chars().any(char::is_control) {
            problems.push((Field::Id, "an id may not contain control characters".into()));
        }
    }
    let (Some(customer), Some(currency), Some(amount), Some(at)) = (customer, currency, amount, at)
    else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let site_key = site.key.as_str().as_bytes();
    let id = match reference {
        Some(reference) => derived_id(&[b"revenue-id", site_key, reference.as_bytes()]),
        None => derived_id(&[
            b"revenue",
            site_key,
            customer.as_str().as_bytes(),
            currency.code().as_bytes(),
            &amount.to_be_bytes(),
            &at.to_be_bytes(),
        ]),
    };
    Ok(RevenueEntry {
        id,
        reference: reference.map(str::to_owned),
        customer,
        currency,
        amount,
        at,
    })
}

/// Reads revenue rows from a CSV file with a header: columns for the customer, the amount, the
/// currency and the date (found by their usual names), and optionally the row's own id.
pub fn from_csv(
    site: &Site,
    body: &[u8],
    dates: &DateRules,
) -> Result<Vec<RevenueEntry>, Problems> {
    let file = CsvFile::read(body)?;
    let mut problems = Problems::default();
    let never = |_: &str| false;
    let mut required = |what: &str, names: &[&str]| match file.column(None, names, never) {
        Ok(Some(column)) => Some(column),
        _ => {
            problems.push(Problem::file(
                Some(1),
                format!("no {what} column; the columns are {}", file.header_list()),
            ));
            None
        }
    };
    let customer = required("customer", CUSTOMER_COLUMNS);
    let amount = required("amount", AMOUNT_COLUMNS);
    let currency = required("currency", CURRENCY_COLUMNS);
    let date = required("date", REVENUE_DATE_COLUMNS);
    let (Some(customer), Some(amount), Some(currency), Some(date)) =
        (customer, amount, currency, date)
    else {
        return Err(problems);
    };
    let id = file.column(None, ID_COLUMNS, never).ok().flatten();
    let mut entries = Vec::new();
    for (line, row, cells) in file.rows() {
        if cells.len() > file.width() {
            problems.push(file.problem(
                line,
                row,
                None,
                format!(
                    "the row has {} cells and the header {} columns (a separator in an unquoted amount?)",
                    cells.len(),
                    file.width()
                ),
            ));
            continue;
        }
        let cell = |column: usize| cells.get(column).unwrap_or_default();
        let raw = RawRow {
            customer: cell(customer),
            amount: cell(amount),
            currency: cell(currency),
            date: cell(date),
            reference: id.map(cell),
        };
        match entry(site, &raw, dates) {
            Ok(entry) => entries.push(entry),
            Err(found) => {
                for (field, message) in found {
                    let column = match field {
                        Field::Customer => Some(customer),
                        Field::Amount => Some(amount),
                        Field::Currency => Some(currency),
                        Field::Date => Some(date),
                        Field::Id => id,
                    };
                    problems.push(file.problem(line, row, column, message));
                }
            }
        }
    }
    problems.or_ok(entries)
}

/// Reads revenue rows from a JSON array of `{"customer", "amount", "currency", "date", "id"}`
/// objects. An amount may be a string (`"12.50"`) or a number (`12.5`); a number is taken as
/// the shortest decimal that denotes it, which is what was written for amounts of up to 15
/// digits (longer ones are refused: send them as strings).
pub fn from_json(
    site: &Site,
    body: &[u8],
    dates: &DateRules,
) -> Result<Vec<RevenueEntry>, ImportError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|error| ImportError::MalformedJson(error.to_string()))?;
    let Value::Array(items) = document else {
        return Err(Problems::one(Problem::file(
            None,
            "send a JSON array of revenue rows: [{\"customer\", \"amount\", \"currency\", \"date\"}]",
        ))
        .into());
    };
    if items.is_empty() {
        return Err(Problems::one(Problem::file(None, "the array has no rows")).into());
    }
    let mut problems = Problems::default();
    let mut entries = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let problem = |field: Option<&str>, message: String| Problem {
            line: None,
            row: None,
            index: Some(index as u64),
            column: field.map(str::to_owned),
            message,
        };
        let Value::Object(fields) = item else {
            problems.push(problem(None, "a row is a JSON object".into()));
            continue;
        };
        let mut unknown = false;
        for name in fields.keys() {
            if !["customer", "amount", "currency", "date", "id"].contains(&name.as_str()) {
                let name: String = name.chars().take(40).collect();
                problems.push(problem(
                    Some(&name),
                    "unknown field: a row has customer, amount, currency, date and id".into(),
                ));
                unknown = true;
            }
        }
        let mut text_of = |field: &str, numbers: bool| -> Option<String> {
            match fields.get(field) {
                None | Some(Value::Null) => Some(String::new()),
                Some(Value::String(text)) => Some(text.clone()),
                Some(Value::Number(number)) if numbers => {
                    let text = number.to_string();
                    if text.contains(['e', 'E']) {
                        problems.push(problem(
                            Some(field),
                            format!("{text} is not exact as a JSON number: send it as a string"),
                        ));
                        return None;
                    }
                    Some(text)
                }
                Some(_) => {
                    let expected = if numbers {
                        "a string or a number"
                    } else {
                        "a string"
                    };
                    problems.push(problem(Some(field), format!("{field} is {expected}")));
                    None
                }
            }
        };
        let (customer, amount, currency, date, reference) = (
            text_of("customer", false),
            text_of("amount", true),
            text_of("currency", false),
            text_of("date", false),
            text_of("id", true),
        );
        let (Some(customer), Some(amount), Some(currency), Some(date), Some(reference)) =
            (customer, amount, currency, date, reference)
        else {
            continue;
        };
        if unknown {
            continue;
        }
        let raw = RawRow {
            customer: &customer,
            amount: &amount,
            currency: &currency,
            date: &date,
            reference: Some(&reference),
        };
        match entry(site, &raw, dates) {
            Ok(entry) => entries.push(entry),
            Err(found) => {
                for (field, message) in found {
                    let name = match field {
                        Field::Customer => "customer",
                        Field::Amount => "amount",
                        Field::Currency => "currency",
                        Field::Date => "date",
                        Field::Id => "id",
                    };
                    problems.push(problem(Some(name), message));
                }
            }
        }
    }
    Ok(problems.or_ok(entries)?)
}

/// Stores `entries` for `site` in one transaction, and says what happened.
#[tracing::instrument(skip_all, fields(site = %site.key))]
pub async fn import(
    store: &dyn Store,
    site: &Site,
    entries: &[RevenueEntry],
) -> Result<RevenueImportReceipt, ImportError> {
    let stored = store.store_revenue(site, entries).await?;
    let customers: BTreeSet<&CustomerId> = entries.iter().map(|entry| &entry.customer).collect();
    let currencies: BTreeSet<&str> = entries.iter().map(|entry| entry.currency.code()).collect();
    let instant = |millis: Option<i64>| {
        jiff::Timestamp::from_millisecond(millis.unwrap_or_default()).unwrap_or_default()
    };
    tracing::info!(
        rows = entries.len(),
        imported = stored.new,
        "imported revenue"
    );
    Ok(RevenueImportReceipt {
        site: site.key.to_string(),
        rows: entries.len() as u64,
        imported: stored.new,
        already_present: stored.duplicates,
        customers: customers.len() as u64,
        currencies: currencies.into_iter().map(str::to_owned).collect(),
        from: instant(entries.iter().map(|entry| entry.at).min()),
        to: instant(entries.iter().map(|entry| entry.at).max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn site() -> Site {
        Site {
            id: 1,
            key: touchstone_shared::SiteKey::parse("demo").unwrap(),
            name: "Demo".into(),
            origins: Vec::new(),
        }
    }

    fn rules() -> DateRules {
        DateRules {
            time_zone: TimeZone::UTC,
            now: "2026-11-20T00:00:00Z".parse().unwrap(),
        }
    }

    fn json(text: &str) -> Result<Vec<RevenueEntry>, ImportError> {
        from_json(&site(), text.as_bytes(), &rules())
    }

    fn problems(result: Result<Vec<RevenueEntry>, ImportError>) -> Problems {
        match result {
            Err(ImportError::Invalid(problems)) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn json_rows_read_exactly() {
        let entries = json(
            r#"[{"customer": "c1", "amount": "12.50", "currency": "eur", "date": "2026-01-31"},
                {"customer": "c2", "amount": 1500, "currency": "JPY", "date": "2026-02-01T10:00:00Z", "id": 42},
                {"customer": "c3", "amount": 0.1, "currency": "USD", "date": "2026-02-01"}]"#,
        )
        .unwrap();
        let amounts: Vec<(i64, &str)> = entries
            .iter()
            .map(|entry| (entry.amount, entry.currency.code()))
            .collect();
        assert_eq!(amounts, [(1250, "EUR"), (1500, "JPY"), (10, "USD")]);
        assert_eq!(entries[1].reference.as_deref(), Some("42"));
        assert_eq!(entries[0].reference, None);
    }

    #[test]
    fn json_problems_name_the_index_and_field() {
        let found = problems(json(
            r#"[{"customer": "c1", "amount": "1", "currency": "EUR", "date": "2026-01-01"},
                {"customer": "c1", "amount": "1.234", "currency": "EUR", "date": "2026-01-01"},
                {"customer": "c1", "amount": "1", "currency": "EURO", "date": "2026-01-01"},
                {"customer": "", "amount": 1e300, "currency": "EUR", "date": "2026-01-01", "extra": 1},
                "text"]"#,
        ));
        let places: Vec<(Option<u64>, Option<&str>)> = found
            .listed()
            .iter()
            .map(|problem| (problem.index, problem.column.as_deref()))
            .collect();
        assert_eq!(
            places,
            [
                (Some(1), Some("amount")),
                (Some(2), Some("currency")),
                (Some(3), Some("extra")),
                (Some(3), Some("amount")),
                (Some(4), None),
            ]
        );
        assert!(found.listed()[0].message.contains("EUR has 2 decimals"));
        assert!(matches!(json("[{"), Err(ImportError::MalformedJson(_))));
        assert!(matches!(json("{}"), Err(ImportError::Invalid(_))));
        assert!(matches!(json("[]"), Err(ImportError::Invalid(_))));
    }

    #[test]
    fn csv_rows_read_with_their_usual_names() {
        let entries = from_csv(
            &site(),
            b"Invoice Number,Customer ID,Amount,Currency,Invoice Date\nINV-1,c1,99.90,EUR,2026-03-01\n,c2,-10,EUR,2026-03-02\n",
            &rules(),
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].amount, 9990);
        assert_eq!(entries[0].reference.as_deref(), Some("INV-1"));
        assert_eq!(entries[1].amount, -1000);
        assert_eq!(entries[1].reference, None);
    }

    #[test]
    fn csv_problems_name_the_line_and_column() {
        let found = from_csv(
            &site(),
            b"customer,amount,currency,date\nc1,1,EUR,2026-01-01\nc2,\"1,50\",EUR,2026-01-01\nc3,5,XYZ,2999-01-01\n",
            &rules(),
        )
        .unwrap_err();
        let places: Vec<(Option<u64>, Option<&str>)> = found
            .listed()
            .iter()
            .map(|problem| (problem.line, problem.column.as_deref()))
            .collect();
        assert_eq!(
            places,
            [
                (Some(3), Some("amount")),
                (Some(4), Some("currency")),
                (Some(4), Some("date")),
            ]
        );
        let missing = from_csv(&site(), b"customer,amount\nc,1\n", &rules()).unwrap_err();
        assert_eq!(missing.count(), 2);
    }

    #[test]
    fn ids_come_from_the_client_s_id_or_else_from_the_values() {
        let row = |id: &str, amount: &str| {
            json(&format!(
                r#"[{{"customer": "c", "amount": "{amount}", "currency": "EUR", "date": "2026-01-01", "id": "{id}"}}]"#
            ))
            .unwrap()
            .remove(0)
            .id
        };
        assert_eq!(
            row("", "1"),
            row("", "1.00"),
            "the same values, written otherwise"
        );
        assert_ne!(row("", "1"), row("", "2"));
        assert_eq!(row("inv-1", "1"), row("inv-1", "2"), "an id names the row");
        assert_ne!(row("inv-1", "1"), row("inv-2", "1"));
    }
}
