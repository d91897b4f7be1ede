//! `POST /v1/collect`: where widgets deliver touchpoints and answers.
//!
//! A `2xx` means the batch is committed to the database. Widgets send the body as `text/plain`
//! (so browsers skip the CORS preflight, and `navigator.sendBeacon` can deliver it on page
//! exit) or as `application/json`.

use crate::bots::is_known_bot;
use crate::error::ApiError;
use crate::ingest::Ingest;
use crate::limits::{RateLimits, TrustedProxies};
use crate::metrics::{Reason, metrics};
use crate::site_cache::SiteCache;
use crate::store::{IncomingBatch, Store, now_millis};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use touchstone_shared::wire::{CollectRequest, Event, MAX_BODY_BYTES, Timestamp};

/// How far ahead of the collector's clock an event may claim to be before its time is distrusted.
const MAX_CLOCK_AHEAD_MILLIS: i64 = 5 * 60 * 1000;
/// How old an event may claim to be before its time is distrusted (a widget keeps undelivered
/// events for days, not months).
const MAX_AGE_MILLIS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Registers the collect endpoint.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/collect")
            .wrap(from_fn(allow_any_page_to_read_the_answer))
            .route(web::post().to(collect))
            .route(web::method(Method::OPTIONS).to(preflight))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
            })),
    );
}

/// What the collect endpoint keeps between requests.
#[derive(Debug)]
pub struct CollectGate {
    /// Recently looked-up sites.
    pub sites: SiteCache,
    /// The per-site and per-client buckets.
    pub limits: RateLimits,
    /// Whose `X-Forwarded-For` to believe.
    pub proxies: TrustedProxies,
}

/// What the collector answers once a batch is stored.
#[derive(Debug, Serialize)]
struct Receipt {
    /// Events in the batch, all of them now stored.
    accepted: u64,
    /// Of those, how many were already stored by an earlier delivery of the same events.
    duplicates: u64,
    /// Events not stored because the sender is a known bot or headless crawler.
    ignored: u64,
}

#[tracing::instrument(name = "collect", skip_all)]
async fn collect(
    request: HttpRequest,
    body: web::Payload,
    store: web::Data<dyn Store>,
    ingest: web::Data<Ingest>,
    gate: web::Data<CollectGate>,
) -> Result<HttpResponse, ApiError> {
    let answer = store_batch(&request, body, store.get_ref(), &ingest, &gate).await;
    if let Err(error) = &answer {
        metrics()
            .collect_rejected
            .get_or_create(&Reason {
                reason: error.code(),
            })
            .inc();
    }
    answer.map(|receipt| HttpResponse::Ok().json(receipt))
}

async fn store_batch(
    request: &HttpRequest,
    body: web::Payload,
    store: &dyn Store,
    ingest: &Ingest,
    gate: &CollectGate,
) -> Result<Receipt, ApiError> {
    require_text_body(request)?;
    let bytes = match body.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        // The connection broke mid-body: nothing usable arrived.
        Ok(Err(_)) => {
            return Err(ApiError::MalformedJson(
                "the request body ended early".into(),
            ));
        }
        Err(_) => return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES)),
    };
    let batch = parse(&bytes)?;
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    if user_agent.is_some_and(is_known_bot) {
        let ignored = batch.events.events().len() as u64;
        metrics().events_from_bots.inc_by(ignored);
        return Ok(Receipt {
            accepted: 0,
            duplicates: 0,
            ignored,
        });
    }
    let site = gate
        .sites
        .site(store, &batch.site)
        .await?
        .ok_or_else(|| ApiError::UnknownSite(batch.site.clone()))?;
    let forwarded_for = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let client = gate
        .proxies
        .client_address(request.peer_addr().map(|peer| peer.ip()), forwarded_for);
    gate.limits
        .check(site.id, client)
        .map_err(ApiError::RateLimited)?;
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !site.allows_origin(origin) {
            tracing::warn!(site = %site.key, origin, "refused a batch from an origin the site does not list");
            return Err(ApiError::OriginNotAllowed(origin.to_owned()));
        }
    }
    let received_at = now_millis();
    let events: Vec<Event> = Vec::from(batch.events)
        .into_iter()
        .map(|event| within_trusted_window(event, received_at))
        .collect();
    let accepted = events.len() as u64;
    let stored = ingest
        .submit(IncomingBatch {
            site_id: site.id,
            visitor: batch.visitor,
            events,
            received_at,
        })
        .await?;
    tracing::debug!(site = %site.key, new = stored.new, duplicates = stored.duplicates, "stored a batch");
    Ok(Receipt {
        accepted,
        duplicates: stored.duplicates,
        ignored: 0,
    })
}

/// Keeps an event's own time unless it is more than five minutes ahead of the collector's clock or
/// more than 30 days old; then the time the collector received it is the better guess. A wrong
/// browser clock must not put answers into the future, and nobody can backdate answers into
/// last year's trend.
fn within_trusted_window(mut event: Event, received_at: i64) -> Event {
    let (Event::Touchpoint { at, .. } | Event::Response { at, .. } | Event::Identify { at, .. }) =
        &mut event;
    let trusted = received_at - MAX_AGE_MILLIS..=received_at + MAX_CLOCK_AHEAD_MILLIS;
    if !trusted.contains(&at.millis()) {
        // The collector's own clock is always a valid timestamp.
        *at = Timestamp::try_from(received_at).unwrap_or(*at);
    }
    event
}

/// Accepts `application/json` and `text/plain`, with any parameters (such as a charset).
fn require_text_body(request: &HttpRequest) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let essence = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/plain")
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Turns the body into a checked request, telling bad encoding, bad JSON and broken rules apart.
fn parse(bytes: &[u8]) -> Result<CollectRequest, ApiError> {
    std::str::from_utf8(bytes).map_err(|_| ApiError::InvalidEncoding)?;
    serde_json::from_slice(bytes).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::InvalidRequest(error.to_string()),
        _ => ApiError::MalformedJson(error.to_string()),
    })
}

/// Answers the CORS preflight a browser sends before an `application/json` post. Which origins
/// may post depends on the site named in the body, so that check happens on the post itself.
async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// Lets the page that posted read the answer, errors included, so a widget can tell "stored"
/// from "rejected" from "try again". The collect endpoint takes no credentials and returns no
/// secrets; only a refused origin is left unreadable.
async fn allow_any_page_to_read_the_answer(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.call(request).await?;
    if let Some(origin) = origin
        && response.status() != StatusCode::FORBIDDEN
    {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use touchstone_shared::wire::EventId;
    use touchstone_shared::{Score, TouchpointName};

    fn answered_at(at: i64) -> Event {
        Event::Response {
            id: EventId(uuid::Uuid::nil()),
            at: Timestamp::try_from(at).unwrap(),
            score: Score::try_from(9).unwrap(),
            comment: None,
        }
    }

    #[test]
    fn times_within_the_window_are_kept() {
        let now = 1_763_640_000_000;
        for at in [
            now,
            now - 1,
            now + MAX_CLOCK_AHEAD_MILLIS,
            now - MAX_AGE_MILLIS,
        ] {
            assert_eq!(
                within_trusted_window(answered_at(at), now).at().millis(),
                at
            );
        }
    }

    #[test]
    fn times_outside_the_window_become_the_receipt_time() {
        let now = 1_763_640_000_000;
        for at in [
            now + MAX_CLOCK_AHEAD_MILLIS + 1,
            now - MAX_AGE_MILLIS - 1,
            0,
            Timestamp::MAX_MILLIS,
        ] {
            assert_eq!(
                within_trusted_window(answered_at(at), now).at().millis(),
                now,
                "{at}"
            );
        }
        let touchpoint = Event::Touchpoint {
            id: EventId(uuid::Uuid::nil()),
            at: Timestamp::try_from(0).unwrap(),
            name: TouchpointName::page_view(),
            url: touchstone_shared::PageUrl::parse("https://a.example/").unwrap(),
        };
        assert_eq!(within_trusted_window(touchpoint, now).at().millis(), now);
    }
}
