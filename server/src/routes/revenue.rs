//! Revenue: `POST /v1/sites/{site}/revenue` imports revenue per customer (a JSON array, or a
//! CSV file by its `Content-Type`) with an `admin` key; `GET /v1/sites/{site}/nps/revenue` says
//! what the NPS is worth, with a read key: customers and revenue by category, the
//! revenue-weighted NPS, the revenue at risk and the promoters' share, in one currency.
//!
//! Which numbers count, precisely:
//! - the customers are those with an answer within the period (and survey): an answer belongs
//!   to the customer the visitor was last identified as, and a customer's latest answer within
//!   the period decides their category;
//! - their revenue is the sum of their rows dated within the same period, in the currency (a
//!   customer refunded more than they paid counts as 0);
//! - revenue of customers without an answer in the period is in no category, so not counted.
//!
//! Currencies are never added up: a site with revenue in several must say which one it wants.

use super::imports::{CSV_TYPES, ImportErrors, media_type_is, read_body};
use super::openapi::{KeyedErrors, SitePath};
use crate::api_key::KeyScope;
use crate::auth::{authorize, authorize_for};
use crate::error::{ApiError, ErrorBody};
use crate::import::revenue::{self, RevenueImportReceipt};
use crate::import::{DateRules, MAX_IMPORT_BYTES};
use crate::period::{Period, PeriodParams};
use crate::store::{AnswerScope, Store};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use touchstone_shared::{Currency, Interval, RevenueTally};
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// Registers the revenue import and report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/sites/{site}/revenue")
            .route(web::post().to(import_revenue))
            .default_service(super::method_not_allowed()),
    )
    .route(
        "/v1/sites/{site}/nps/revenue",
        web::get().to(revenue_report),
    );
}

/// One revenue row, as the JSON body of an import holds it (documentation: the rows are
/// checked one by one so that each problem can name its row).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "only its schema is used")]
struct RevenueRow {
    /// The customer id, as the site gives it with `identify` (or as a history import names it).
    customer: String,
    /// A decimal in major units, `"1234.56"` (a string, or a JSON number of up to 15 digits),
    /// with at most as many decimals as the currency has; negative for a refund.
    #[schema(value_type = String)]
    amount: String,
    /// ISO 4217 code, e.g. `EUR`.
    currency: String,
    /// When the revenue was earned: `2026-11-01`, `2026-11-01 09:30:00` or RFC 3339.
    date: String,
    /// The row's own id (an invoice number): the same id is stored once. Without one, rows
    /// with the same customer, amount, currency and date are one row.
    id: Option<String>,
}

/// The query string of a revenue import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RevenueImportParams {
    /// The IANA time zone of dates written without an offset: UTC by default.
    tz: Option<String>,
}

/// Import revenue
///
/// Revenue per customer, as a JSON array of rows (`Content-Type: application/json`) or a CSV
/// file with a header (`text/csv`; columns found by their usual names: `customer`/`customer
/// id`/`email`, `amount`/`revenue`/`total`, `currency`, `date`/`paid at`/`invoice date`, and
/// optionally `id`/`invoice number`). Amounts are read exactly into the currency's minor units:
/// an unknown currency, or more decimals than the currency has, is refused. All or nothing:
/// one bad row and nothing is stored; problems name the row (`index` from 0 in JSON, `line`
/// and `row` in CSV) and the field. Posting the same rows again stores nothing. Needs an
/// `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/revenue",
    tag = "imports",
    params(SitePath, RevenueImportParams),
    request_body(
        description = "The rows, at most 20 MiB.",
        content((Vec<RevenueRow> = "application/json"), (String = "text/csv")),
    ),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Stored (or already there); what the rows held.", body = RevenueImportReceipt),
        ImportErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "import_revenue", skip_all)]
async fn import_revenue(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<RevenueImportParams>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
) -> Result<web::Json<RevenueImportReceipt>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let dates = DateRules::in_zone(params.tz.as_deref()).map_err(ApiError::InvalidParameter)?;
    let json = media_type_is(&request, &["application/json"]);
    if !json && !media_type_is(&request, CSV_TYPES) {
        return Err(ApiError::UnsupportedMediaType(
            "application/json or text/csv",
        ));
    }
    let body = read_body(&request, payload, MAX_IMPORT_BYTES).await?;
    let entries = if json {
        revenue::from_json(&site, &body, &dates)?
    } else {
        revenue::from_csv(&site, &body, &dates).map_err(ApiError::InvalidImport)?
    };
    Ok(web::Json(
        revenue::import(store.get_ref(), &site, &entries).await?,
    ))
}

/// The query string of the revenue report.
#[derive(Debug, Deserialize)]
struct RevenueParams {
    #[serde(flatten)]
    period: PeriodParams,
    survey: Option<String>,
    currency: Option<String>,
}

/// What the NPS is worth, in one currency.
#[derive(Debug, Serialize, ToSchema)]
struct RevenueReport {
    /// The currency of every amount; null when the site has no revenue at all.
    currency: Option<String>,
    /// Every currency the site has revenue in, in code order.
    currencies: Vec<String>,
    /// Customers with an answer in the period, by the category of their latest answer.
    customers: CustomerCounts,
    /// Their revenue dated in the period, by category.
    revenue: RevenueAmounts,
    /// `(promoters' revenue − detractors' revenue) / total revenue × 100`, −100 to 100; null
    /// without revenue.
    revenue_weighted_nps: Option<f64>,
    /// The 95% interval of `revenue_weighted_nps` (each customer weighted by their revenue:
    /// a ratio-estimator interval); null without revenue.
    revenue_weighted_confidence_interval: Option<Interval>,
    /// Fewer than 30 effective customers (Kish: `(Σ revenue)² / Σ revenue²`) hold the revenue:
    /// read the interval as optimistic.
    revenue_weighted_small_sample: bool,
    /// The detractors' revenue.
    revenue_at_risk: String,
    /// The promoters' share of the revenue, 0 to 1; null without revenue.
    promoter_revenue_share: Option<f64>,
}

/// How many customers are in each category.
#[derive(Debug, Serialize, ToSchema)]
struct CustomerCounts {
    promoters: u64,
    passives: u64,
    detractors: u64,
    total: u64,
}

/// Revenue by category: decimal strings in major units with the currency's decimals, never
/// floats (`"0"` when the site has no revenue and so no currency).
#[derive(Debug, Serialize, ToSchema)]
struct RevenueAmounts {
    promoters: String,
    passives: String,
    detractors: String,
    total: String,
}

/// What the report can fail with.
#[derive(IntoResponses)]
pub enum RevenueReportErrors {
    /// `invalid_parameter`: a bad period, survey or currency code. `currency_required`: the
    /// site has revenue in several currencies and `currency` names none (the message lists
    /// them).
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
}

/// What the NPS is worth
///
/// Customers and revenue by NPS category, the revenue-weighted NPS, the revenue at risk (the
/// detractors') and the promoters' share of revenue, in one currency. The customers counted are
/// those with an answer within the period (answers belong to the customer the visitor was last
/// identified as, through `identify` or a history import; a customer's latest answer in the
/// period sets their category); their revenue is their rows dated within the same period (net
/// of refunds, at least 0). `currency` may be left out when the site has revenue in one
/// currency only; with several, it must be given: currencies are never mixed.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/nps/revenue",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers; every survey of the site by default."),
        ("currency" = Option<String>, Query, description = "ISO 4217 code, e.g. `EUR`; required when the site has revenue in several currencies."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = RevenueReport),
        RevenueReportErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "revenue_report", skip_all)]
async fn revenue_report(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<RevenueParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<RevenueReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let asked = params
        .currency
        .as_deref()
        .map(|code| {
            Currency::parse(code)
                .map_err(|error| ApiError::InvalidParameter(format!("`currency`: {error}")))
        })
        .transpose()?;
    let currencies = store.revenue_currencies(&site).await?;
    let codes: Vec<String> = currencies
        .iter()
        .map(|currency| currency.code().to_owned())
        .collect();
    let currency = match (asked, currencies.as_slice()) {
        (Some(currency), _) => Some(currency),
        (None, []) => None,
        (None, [only]) => Some(*only),
        (None, _) => return Err(ApiError::CurrencyRequired(codes)),
    };
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let mut tally = RevenueTally::default();
    for (score, revenue) in store
        .customer_revenue(scope, period.range(), currency)
        .await?
    {
        tally.record(score.category(), revenue);
    }
    let amount = |minor: u128| match currency {
        Some(currency) => currency.format(i128::try_from(minor).unwrap_or(i128::MAX)),
        None => "0".to_owned(),
    };
    Ok(web::Json(RevenueReport {
        currency: currency.map(|currency| currency.code().to_owned()),
        currencies: codes,
        customers: CustomerCounts {
            promoters: tally.customers.promoters,
            passives: tally.customers.passives,
            detractors: tally.customers.detractors,
            total: tally.customers.responses(),
        },
        revenue: RevenueAmounts {
            promoters: amount(tally.promoters),
            passives: amount(tally.passives),
            detractors: amount(tally.detractors),
            total: amount(tally.total()),
        },
        revenue_weighted_nps: tally.weighted_nps(),
        revenue_weighted_confidence_interval: tally.weighted_interval(),
        revenue_weighted_small_sample: tally.is_small_sample(),
        revenue_at_risk: amount(tally.at_risk()),
        promoter_revenue_share: tally.promoter_share(),
    }))
}
