//! `GET /v1/sites/{site}/nps/accounts`: the NPS of business customers, one voice per account
//! (or weighted by seats), and which accounts are at risk, for holders of the site's read key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{AccountAnswer, AnswerScope, Store};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use touchstone_shared::weighted::{WeightedTally, account_voice};
use touchstone_shared::{CONFIDENCE_LEVEL, Category, Interval, Score, SurveyId, TraitName};
use utoipa::ToSchema;

/// Registers the account report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps/accounts", web::get().to(accounts));
}

/// The trait that names a respondent's account when the request does not say.
const DEFAULT_ACCOUNT_TRAIT: &str = "account";
/// Accounts listed when the request does not say.
const DEFAULT_LIMIT: usize = 100;
/// The most accounts one report lists.
const MAX_LIMIT: usize = 1000;

/// The query string.
#[derive(Debug, Deserialize)]
struct AccountParams {
    #[serde(flatten)]
    period: PeriodParams,
    survey: Option<String>,
    account: Option<String>,
    weight: Option<String>,
}

/// How many accounts to list (kept apart: numbers inside a flattened query fail to parse).
#[derive(Debug, Deserialize)]
struct LimitParam {
    limit: Option<usize>,
}

/// The NPS of a site's business accounts.
#[derive(Debug, Serialize, ToSchema)]
struct AccountsReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// The customer trait that names the account.
    account_trait: String,
    /// The customer trait that weighs each account (e.g. `seats`), or null: one voice each.
    weight_trait: Option<String>,
    /// Always 0.95.
    confidence_level: f64,
    /// The accounts' NPS.
    summary: AccountSummary,
    /// Answers in the period from respondents with no account (anonymous, or identified
    /// without the account trait): not counted above.
    answers_without_account: u64,
    /// Every account that answered in the period.
    total_accounts: u64,
    /// At risk first: detractor accounts, then passives, then promoters; within each, the
    /// heaviest first, then the lowest mean score. At most `limit`.
    accounts: Vec<AccountRow>,
}

/// The NPS over accounts, each account one voice of its weight.
#[derive(Debug, Serialize, ToSchema)]
struct AccountSummary {
    /// Accounts counted (with a weight, when weighted).
    accounts: u64,
    /// Accounts whose voice is a promoter's.
    promoter_accounts: u64,
    /// Accounts whose voice is a passive's.
    passive_accounts: u64,
    /// Accounts whose voice is a detractor's.
    detractor_accounts: u64,
    /// Accounts left out of a weighted score because their weight trait is missing or not a
    /// number of at least zero.
    accounts_without_weight: u64,
    /// The weight behind promoters, passives and detractors (their account counts when not
    /// weighted).
    promoter_weight: f64,
    /// See `promoter_weight`.
    passive_weight: f64,
    /// See `promoter_weight`.
    detractor_weight: f64,
    /// −100..=100 over accounts (weighted, if asked), or null without any.
    nps: Option<f64>,
    /// Half the width of the 95% interval, in NPS points.
    margin_of_error: Option<f64>,
    /// The 95% interval.
    confidence_interval: Option<Interval>,
    /// Kish's effective number of accounts, `(Σw)²/Σw²`: a few heavy accounts count as few.
    effective_accounts: f64,
    /// Fewer than 30 effective accounts: read the interval as optimistic.
    small_sample: bool,
}

/// One account's voice.
#[derive(Debug, Serialize, ToSchema)]
struct AccountRow {
    /// The account, as the `identify` trait gave it.
    account: String,
    /// People of the account who answered in the period (each counted by their latest answer).
    respondents: u64,
    /// The mean of those latest scores.
    mean_score: f64,
    /// The category the mean falls in: 9 or more promoter, 7 or more passive, else detractor.
    #[schema(value_type = String, example = "detractor")]
    category: Category,
    /// The account's weight, when weighted and known.
    weight: Option<f64>,
    /// The account's latest answer in the period.
    #[schema(value_type = String, format = DateTime)]
    last_answer_at: jiff::Timestamp,
}

/// NPS by business account
///
/// B2B NPS: the respondents of one account (the customer trait `account`, or the one named by
/// `account`, from each respondent's latest `identify`) make one voice: the mean of each
/// respondent's latest score in the period, put in the category of a single score (9 or more
/// promoter, 7 or more passive, else detractor). The accounts' NPS counts each account once, or
/// weighs it by a numeric customer trait (`weight=seats`) — then with a ratio-estimator interval
/// and Kish's effective number of accounts for the small-sample flag. The accounts follow, those
/// at risk first.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/nps/accounts",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers; every survey of the site by default."),
        ("account" = Option<String>, Query, description = "The customer trait naming the account; `account` by default."),
        ("weight" = Option<String>, Query, description = "A customer trait holding each account's weight, e.g. `seats`; one voice per account by default."),
        ("limit" = Option<usize>, Query, description = "Accounts listed, 1 to 1000; 100 by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = AccountsReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "accounts", skip_all)]
async fn accounts(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<AccountParams>,
    limit: web::Query<LimitParam>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<AccountsReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let account_trait = trait_param(
        "account",
        params.account.as_deref().unwrap_or(DEFAULT_ACCOUNT_TRAIT),
    )?;
    let weight_trait = params
        .weight
        .as_deref()
        .map(|name| trait_param("weight", name))
        .transpose()?;
    let limit = match limit.limit {
        None => DEFAULT_LIMIT,
        Some(limit @ 1..=MAX_LIMIT) => limit,
        Some(other) => {
            return Err(ApiError::InvalidParameter(format!(
                "`limit` is 1 to {MAX_LIMIT}, not {other}"
            )));
        }
    };
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let answers = store
        .account_answers(scope, period.range(), &account_trait, weight_trait.as_ref())
        .await?;
    let answered = store.tally(scope, period.range()).await?.responses();
    let answers_without_account = answered.saturating_sub(answers.len() as u64);
    let mut voices = account_voices(answers)?;
    let weighted = weight_trait.is_some();
    let summary = summarize(&voices, weighted);
    voices.sort_by(|a, b| {
        risk_rank(a.category)
            .cmp(&risk_rank(b.category))
            .then_with(|| b.weight.unwrap_or(0.0).total_cmp(&a.weight.unwrap_or(0.0)))
            .then_with(|| a.mean_score.total_cmp(&b.mean_score))
            .then_with(|| a.account.cmp(&b.account))
    });
    let total_accounts = voices.len() as u64;
    voices.truncate(limit);
    Ok(web::Json(AccountsReport {
        site: site.key.to_string(),
        survey,
        period,
        account_trait: account_trait.as_str().to_owned(),
        weight_trait: weight_trait.map(|name| name.as_str().to_owned()),
        confidence_level: CONFIDENCE_LEVEL,
        summary,
        answers_without_account,
        total_accounts,
        accounts: voices,
    }))
}

fn trait_param(parameter: &str, name: &str) -> Result<TraitName, ApiError> {
    TraitName::parse(name)
        .map_err(|error| ApiError::InvalidParameter(format!("`{parameter}`: {error}")))
}

/// Detractors first: the accounts someone should call.
fn risk_rank(category: Category) -> u8 {
    match category {
        Category::Detractor => 0,
        Category::Passive => 1,
        Category::Promoter => 2,
    }
}

/// One row per account: each respondent's latest answer, the account's voice from those, and
/// its weight as given with the latest of them.
fn account_voices(answers: Vec<AccountAnswer>) -> Result<Vec<AccountRow>, ApiError> {
    // account → customer → their latest answer.
    let mut latest: HashMap<String, HashMap<String, AccountAnswer>> = HashMap::new();
    for answer in answers {
        let respondents = latest.entry(answer.account.clone()).or_default();
        match respondents.get(&answer.customer) {
            Some(kept) if (kept.at, kept.score) >= (answer.at, answer.score) => {}
            _ => {
                respondents.insert(answer.customer.clone(), answer);
            }
        }
    }
    latest
        .into_iter()
        .map(|(account, respondents)| {
            let newest = respondents
                .values()
                .max_by_key(|answer| answer.at)
                .expect("an account appears only with an answer");
            let scores = respondents
                .values()
                .map(|answer| stored_score(answer.score))
                .collect::<Result<Vec<_>, _>>()?;
            let (mean_score, category) =
                account_voice(scores).expect("an account appears only with an answer");
            Ok(AccountRow {
                respondents: respondents.len() as u64,
                mean_score,
                category,
                weight: newest.weight.as_deref().and_then(parse_weight),
                last_answer_at: jiff::Timestamp::from_millisecond(newest.at)
                    .map_err(|error| ApiError::Internal(Box::new(error)))?,
                account,
            })
        })
        .collect()
}

fn stored_score(score: i64) -> Result<Score, ApiError> {
    u8::try_from(score)
        .ok()
        .and_then(|score| Score::try_from(score).ok())
        .ok_or_else(|| ApiError::Internal(format!("a stored score of {score}").into()))
}

/// A weight trait's value: a number of at least zero (`120`, `12.5`), or nothing.
fn parse_weight(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|weight| weight.is_finite() && *weight >= 0.0)
}

fn summarize(voices: &[AccountRow], weighted: bool) -> AccountSummary {
    let mut tally = WeightedTally::default();
    let mut without_weight = 0;
    for voice in voices {
        let weight = if weighted { voice.weight } else { Some(1.0) };
        match weight {
            Some(weight) => tally
                .record(voice.category, weight)
                .expect("parse_weight lets only finite weights of at least zero through"),
            None => without_weight += 1,
        }
    }
    let count = |category: Category| {
        voices
            .iter()
            .filter(|voice| voice.category == category && (!weighted || voice.weight.is_some()))
            .count() as u64
    };
    AccountSummary {
        accounts: tally.voices(),
        promoter_accounts: count(Category::Promoter),
        passive_accounts: count(Category::Passive),
        detractor_accounts: count(Category::Detractor),
        accounts_without_weight: without_weight,
        promoter_weight: tally.weight_of(Category::Promoter),
        passive_weight: tally.weight_of(Category::Passive),
        detractor_weight: tally.weight_of(Category::Detractor),
        nps: tally.nps(),
        margin_of_error: tally.margin_of_error(),
        confidence_interval: tally.interval(),
        effective_accounts: tally.effective_voices(),
        small_sample: tally.is_small_sample(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        account: &str,
        customer: &str,
        score: i64,
        at: i64,
        weight: Option<&str>,
    ) -> AccountAnswer {
        AccountAnswer {
            account: account.into(),
            weight: weight.map(str::to_owned),
            customer: customer.into(),
            score,
            at,
        }
    }

    #[test]
    fn each_respondent_counts_once_with_their_latest_answer() {
        let rows = account_voices(vec![
            answer("acme", "ann", 2, 1, Some("50")),
            answer("acme", "ann", 10, 5, Some("60")),
            answer("acme", "bob", 8, 3, None),
            answer("globex", "cat", 3, 2, Some("10")),
        ])
        .unwrap();
        let acme = rows.iter().find(|row| row.account == "acme").unwrap();
        assert_eq!(acme.respondents, 2);
        assert_eq!(acme.mean_score, 9.0, "ann's 10 (latest) and bob's 8");
        assert_eq!(acme.category, Category::Promoter);
        assert_eq!(
            acme.weight,
            Some(60.0),
            "the weight given with the newest answer"
        );
        let globex = rows.iter().find(|row| row.account == "globex").unwrap();
        assert_eq!(globex.category, Category::Detractor);
    }

    #[test]
    fn weights_must_be_numbers_of_at_least_zero() {
        assert_eq!(parse_weight(" 120 "), Some(120.0));
        assert_eq!(parse_weight("12.5"), Some(12.5));
        for bad in ["", "many", "-3", "NaN", "inf", "1e999"] {
            assert_eq!(parse_weight(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn weighted_summaries_leave_out_accounts_without_a_weight() {
        let rows = account_voices(vec![
            answer("a", "1", 10, 1, Some("90")),
            answer("b", "2", 0, 1, Some("10")),
            answer("c", "3", 0, 1, None),
        ])
        .unwrap();
        let weighted = summarize(&rows, true);
        assert_eq!(weighted.accounts, 2);
        assert_eq!(weighted.accounts_without_weight, 1);
        assert_eq!(weighted.detractor_accounts, 1);
        assert!(
            (weighted.nps.unwrap() - 80.0).abs() < 1e-9,
            "(90 − 10) / 100"
        );
        let plain = summarize(&rows, false);
        assert_eq!(plain.accounts, 3);
        assert_eq!(plain.detractor_accounts, 2);
        assert!((plain.nps.unwrap() - (1.0 - 2.0) / 3.0 * 100.0).abs() < 1e-9);
    }
}
