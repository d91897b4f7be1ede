//! `POST /v1/collect`: where widgets deliver touchpoints and answers.
//!
//! A `2xx` means the batch is committed to the database. Widgets send the body as `text/plain`
//! (so browsers skip the CORS preflight, and `navigator.sendBeacon` can deliver it on page
//! exit) or as `application/json`.

use super::openapi::{Internal, RateLimited, Unavailable};
use crate::bots::is_known_bot;
use crate::error::{ApiError, ErrorBody};
use crate::ingest::Ingest;
use crate::limits::{RateLimits, TrustedProxies};
use crate::metrics::{Reason, metrics};
use crate::site_cache::SiteCache;
use crate::store::{IncomingBatch, Store, now_millis};
use crate::webhooks::dispatcher::Watch;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use touchstone_shared::wire::{CollectRequest, Event, MAX_BODY_BYTES, Timestamp};
use utoipa::ToSchema;

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
            .default_service(super::method_not_allowed()),
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
    /// Which sites' answers go to the webhook inbox.
    pub watch: std::sync::Arc<Watch>,
}

/// What the collector answers once a batch is stored.
#[derive(Debug, Serialize, ToSchema)]
struct Receipt {
    /// Events in the batch, all of them now stored.
    accepted: u64,
    /// Of those, how many were already stored by an earlier delivery of the same events.
    duplicates: u64,
    /// Events not stored because the sender is a known bot or headless crawler.
    ignored: u64,
}

/// Store a batch of events
///
/// What the widget sends, as `text/plain` (so browsers skip the CORS preflight and
/// `navigator.sendBeacon` can deliver it on page exit) or `application/json`, at most 64 KiB. A
/// `200` means the events are committed; each (site, event id) is stored once, so a replayed
/// batch is harmless. Batches from known bots are answered `200` with `ignored` set and not
/// stored. An event time more than five minutes ahead of the collector's clock or more than
/// 30 days old is replaced by the time the collector received it.
#[utoipa::path(
    post,
    path = "/v1/collect",
    tag = "collect",
    request_body(content(
        (CollectRequest = "text/plain"),
        (CollectRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Stored (or, from a known bot, ignored).", body = Receipt),
        (status = 400, body = ErrorBody, description = "`invalid_encoding` (not UTF-8), \
            `malformed_json`, or `invalid_request` (a rule broken; the message says which)."),
        (status = 403, body = ErrorBody, description = "`origin_not_allowed`: a page on an \
            origin the site did not register."),
        (status = 404, body = ErrorBody, description = "`unknown_site`: no site has this key."),
        (status = 413, body = ErrorBody, description = "`payload_too_large`: over 64 KiB."),
        (status = 415, body = ErrorBody, description = "`unsupported_media_type`: neither \
            `text/plain` nor `application/json`."),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
        (status = 500, response = Internal),
    ),
)]
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
            watched: gate.watch.is_watched(site.id),
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
    let at = event.at_mut();
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
        Err(ApiError::UnsupportedMediaType(
            "application/json or text/plain",
        ))
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

/// Answer the CORS preflight
///
/// What a browser sends before an `application/json` post. Which origins may post depends on
/// the site named in the body, so that check happens on the post itself.
#[utoipa::path(
    options,
    path = "/v1/collect",
    tag = "collect",
    responses((status = 204, description = "Posts with `content-type` are allowed from any page.")),
)]
async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// Lets the page that posted read the answer, errors included, so a widget can tell "stored"
/// from "rejected" from "try again". The collect endpoint takes no credentials and returns no
/// secrets; only a refused origin is left unreadable. `Retry-After` is exposed with it.
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
        // A cross-origin page can read only safelisted headers; the widget needs Retry-After
        // to wait as long as a busy collector asks.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
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
            survey: touchstone_shared::SurveyId::default(),
            language: None,
            device: None,
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
            referrer: None,
            utm: None,
        };
        assert_eq!(within_trusted_window(touchpoint, now).at().millis(), now);
    }

    /// Fuzzing the parser the collect endpoint runs on every body, with proptest (no nightly
    /// toolchain needed): whatever arrives — random bytes, random JSON, valid requests cut
    /// short, flipped, stuffed with huge numbers, deep nesting or odd Unicode — `parse` answers
    /// without panicking, and every request it accepts serializes and parses back to itself.
    mod fuzz {
        use super::super::parse;
        use proptest::prelude::*;
        use proptest::sample::Index;
        use proptest::test_runner::{Config, TestRunner};
        use serde_json::{Value, json};
        use std::cell::Cell;
        use touchstone_shared::wire::Timestamp;

        /// Feeds `cases` inputs drawn from `inputs` to `parse`; returns how many it accepted.
        fn fuzz(cases: u32, inputs: impl Strategy<Value = Vec<u8>>) -> u32 {
            let accepted = Cell::new(0);
            let config = Config {
                cases,
                failure_persistence: None,
                ..Config::default()
            };
            TestRunner::new(config)
                .run(&inputs, |bytes| {
                    if parses_cleanly(&bytes)? {
                        accepted.set(accepted.get() + 1);
                    }
                    Ok(())
                })
                .unwrap_or_else(|failure| panic!("{failure}"));
            accepted.get()
        }

        /// Parses `bytes` (a panic fails the case); an accepted request must come back
        /// unchanged from its own JSON. Returns whether it was accepted.
        fn parses_cleanly(bytes: &[u8]) -> Result<bool, TestCaseError> {
            let Ok(request) = parse(bytes) else {
                return Ok(false);
            };
            let again = serde_json::to_vec(&request).expect("an accepted request serializes");
            match parse(&again) {
                Ok(reparsed) => prop_assert_eq!(reparsed, request),
                Err(error) => prop_assert!(
                    false,
                    "{} does not parse again: {error}",
                    String::from_utf8_lossy(&again)
                ),
            }
            Ok(true)
        }

        /// Text near and across the rules: any Unicode, direction overrides, a byte-order mark,
        /// combining marks, the last code point, NUL, blanks, and lengths just over the limits.
        fn odd_text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "\\PC{0,40}",
                "[a-z][a-z0-9_.-]{0,70}",
                "(https?|HTTPS|ftp|javascript)://[a-z.]{0,10}/[^ ]{0,20}([?#].{0,10})?",
                prop::sample::select(vec![
                    "\u{202e}evil\u{202c}".to_owned(),
                    "\u{feff}demo".to_owned(),
                    "e\u{301}\u{301}\u{301}".to_owned(),
                    "\u{10ffff}".to_owned(),
                    "a\u{0}b".to_owned(),
                    " \t\n\u{a0}\u{2028} ".to_owned(),
                    "🙂".repeat(2001),
                    format!("https://a.example/{}", "x".repeat(2048)),
                    "p".repeat(65),
                ]),
            ]
        }

        /// Numbers of every size and kind JSON values can hold.
        fn odd_number() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                (0u8..=12).prop_map(Value::from),
                (-1..=Timestamp::MAX_MILLIS + 1).prop_map(Value::from),
                Just(json!(-0.0)),
                Just(json!(9.5)),
            ]
        }

        /// Any JSON value, nested a few levels, with keys that are often the request's own.
        fn json_values() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                odd_number(),
                odd_text().prop_map(Value::from),
            ];
            let key = prop_oneof![
                prop::sample::select(vec![
                    "site",
                    "visitor",
                    "events",
                    "type",
                    "id",
                    "at",
                    "score",
                    "comment",
                    "name",
                    "url",
                    "touchpoint",
                    "response",
                ])
                .prop_map(str::to_owned),
                odd_text(),
            ];
            leaf.prop_recursive(6, 64, 8, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::vec((key.clone(), inner), 0..8)
                        .prop_map(|fields| Value::Object(fields.into_iter().collect())),
                ]
            })
        }

        fn uuid() -> impl Strategy<Value = String> {
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
        }

        /// Requests the collector must accept, as JSON.
        fn valid_requests() -> impl Strategy<Value = Value> {
            let at = 0..=Timestamp::MAX_MILLIS;
            let touchpoint = (
                uuid(),
                at.clone(),
                "[a-z][a-z0-9_.-]{0,63}",
                "(http|https|HTTPS)://[a-z0-9.-]{1,20}(/[A-Za-z0-9._~%é-]{0,10}){0,3}([?#][a-z=&]{0,10})?",
            )
                .prop_map(|(id, at, name, url)| {
                    json!({"type": "touchpoint", "id": id, "at": at, "name": name, "url": url})
                });
            let response = (uuid(), at, 0u8..=10, prop::option::of("\\PC{0,60}")).prop_map(
                |(id, at, score, comment)| {
                    let mut event = json!({"type": "response", "id": id, "at": at, "score": score});
                    if let Some(comment) = comment {
                        event["comment"] = comment.into();
                    }
                    event
                },
            );
            let events = prop::collection::vec(prop_oneof![touchpoint, response], 1..12);
            ("[A-Za-z0-9_-]{1,64}", uuid(), events).prop_map(|(site, visitor, events)| {
                json!({"site": site, "visitor": visitor, "events": events})
            })
        }

        /// Where in a request a value can be swapped for another.
        fn set_field(request: &mut Value, field: usize, value: Value) {
            const TOP: [&str; 3] = ["site", "visitor", "events"];
            const EVENT: [&str; 7] = ["type", "id", "at", "score", "comment", "name", "url"];
            match field {
                0..3 => request[TOP[field]] = value,
                3 => request["events"][0] = value,
                _ => request["events"][0][EVENT[(field - 4) % EVENT.len()]] = value,
            }
        }

        /// Numbers no JSON value holds, written into the text in place of `at` or `score`.
        const HUGE_NUMBERS: [&str; 10] = [
            "1e400",
            "-1e400",
            "1E-400",
            "99999999999999999999999999999999",
            "18446744073709551616",
            "-9223372036854775809",
            "253402300800000",
            "-0",
            "1.0",
            "0x10",
        ];

        /// Valid requests, then broken in one of many ways.
        fn mutated_requests() -> impl Strategy<Value = Vec<u8>> {
            let bytes = |request: Value| request.to_string().into_bytes();
            prop_oneof![
                // Cut short anywhere, as by a dropped connection.
                (valid_requests(), any::<Index>()).prop_map(move |(request, at)| {
                    let mut text = bytes(request);
                    text.truncate(at.index(text.len() + 1));
                    text
                }),
                // A few bytes flipped, as by a broken proxy.
                (
                    valid_requests(),
                    prop::collection::vec((any::<Index>(), 1..=255u8), 1..4)
                )
                    .prop_map(move |(request, flips)| {
                        let mut text = bytes(request);
                        let len = text.len();
                        for (at, mask) in flips {
                            text[at.index(len)] ^= mask;
                        }
                        text
                    }),
                // A field swapped for any JSON value: odd text, odd numbers, wrong types.
                (valid_requests(), 0..11usize, json_values()).prop_map(
                    move |(mut request, field, value)| {
                        set_field(&mut request, field, value);
                        bytes(request)
                    }
                ),
                // A time or a score too big (or too odd) for any integer.
                (
                    valid_requests(),
                    prop::sample::select(&HUGE_NUMBERS[..]),
                    prop::sample::select(vec!["\"at\":", "\"score\":"])
                )
                    .prop_map(|(request, number, field)| {
                        let text = request.to_string();
                        let Some(start) = text.find(field).map(|at| at + field.len()) else {
                            return text.into_bytes();
                        };
                        let end = start
                            + text[start..]
                                .find(|c: char| !c.is_ascii_digit())
                                .unwrap_or(0);
                        format!("{}{number}{}", &text[..start], &text[end..]).into_bytes()
                    }),
                // The events, or an extra field, nested deeper than any parser should follow.
                (
                    valid_requests(),
                    1..3000usize,
                    prop::sample::select(vec!["[", "{\"a\":"])
                )
                    .prop_map(|(request, depth, open)| {
                        let close = if open == "[" { "]" } else { "}" };
                        let events = request["events"].to_string();
                        format!(
                            r#"{{"site":{},"visitor":{},"extra":{}1{},"events":{events}}}"#,
                            request["site"],
                            request["visitor"],
                            open.repeat(depth),
                            close.repeat(depth),
                        )
                        .into_bytes()
                    }),
                // Any text spliced in anywhere, even inside a multi-byte character.
                (valid_requests(), any::<Index>(), odd_text()).prop_map(
                    move |(request, at, odd)| {
                        let mut text = bytes(request);
                        let at = at.index(text.len() + 1);
                        text.splice(at..at, odd.into_bytes());
                        text
                    }
                ),
            ]
        }

        #[test]
        fn arbitrary_bytes_are_answered_without_a_panic() {
            fuzz(512, prop::collection::vec(any::<u8>(), 0..512));
        }

        #[test]
        fn arbitrary_json_is_answered_without_a_panic() {
            fuzz(
                512,
                json_values().prop_map(|value| value.to_string().into_bytes()),
            );
        }

        #[test]
        fn valid_requests_are_accepted_and_round_trip() {
            let accepted = fuzz(
                256,
                valid_requests().prop_map(|request| request.to_string().into_bytes()),
            );
            assert_eq!(accepted, 256, "every valid request is accepted");
        }

        #[test]
        fn mutated_requests_are_answered_without_a_panic_and_what_is_accepted_round_trips() {
            let accepted = fuzz(1500, mutated_requests());
            // Not a vacuous property: some mutations leave a request the rules allow.
            assert!(accepted > 0, "no mutated request was accepted");
        }

        #[test]
        fn nesting_a_hundred_thousand_deep_is_refused_without_overflowing_the_stack() {
            let deep = format!(
                r#"{{"site":"demo","visitor":"0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a","extra":{}1{},"events":[]}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            );
            assert!(parse(deep.as_bytes()).is_err());
            let deep_events = format!(
                r#"{{"site":"demo","visitor":"0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a","events":{}{}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            );
            assert!(parse(deep_events.as_bytes()).is_err());
        }
    }
}
