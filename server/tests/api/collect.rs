//! `POST /v1/collect`: what is stored, and every way a request can be bad.

use crate::audit::StoredRows;
use crate::helpers::*;
use crate::on_every_backend;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use touchstone_server::limits::{RateSettings, TrustedProxies};

on_every_backend!(
    collect_stores_a_batch_and_the_report_counts_it,
    collect_accepts_json_and_the_text_plain_that_beacons_send,
    collect_stores_a_replayed_batch_once,
    collect_stores_only_the_new_events_of_a_partly_replayed_batch,
    collect_refuses_other_content_types,
    collect_refuses_malformed_and_truncated_json,
    collect_refuses_invalid_utf8,
    collect_refuses_a_score_above_ten_and_stores_nothing_of_the_batch,
    collect_refuses_a_body_over_64_kilobytes,
    collect_refuses_more_than_a_hundred_events,
    collect_refuses_an_unknown_site,
    collect_refuses_pages_on_origins_the_site_does_not_list,
    collect_keeps_hostile_text_as_plain_text,
    collect_refuses_a_nul_character,
    collect_answers_the_cors_preflight,
    collect_only_takes_post,
    collect_answers_bots_but_stores_nothing_of_theirs,
    collect_stores_a_batch_replayed_concurrently_once,
);

async fn collect_stores_a_batch_and_the_report_counts_it(app: TestApp) {
    let response = app
        .collect(&batch(vec![
            touchpoint("page_view", noon()),
            response(9, noon()),
        ]))
        .await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(
        receipt,
        json!({"accepted": 2, "duplicates": 0, "ignored": 0})
    );

    let report = app.nps("").await;
    assert_eq!(report["responses"], 1);
    assert_eq!(report["promoters"], 1);
    assert_eq!(report["nps"], 100.0);
}

async fn collect_accepts_json_and_the_text_plain_that_beacons_send(app: TestApp) {
    for content_type in [
        "application/json",
        "text/plain",
        "text/plain;charset=UTF-8",
        "Application/JSON; charset=utf-8",
    ] {
        let body = batch(vec![response(7, noon())]).to_string();
        let response = app.post_collect(body, content_type).await;
        assert_eq!(response.status(), 200, "{content_type}");
    }
    assert_eq!(app.nps("").await["passives"], 4);
}

async fn collect_stores_a_replayed_batch_once(app: TestApp) {
    let request = batch(vec![
        response(0, noon()),
        touchpoint("support_contact", noon()),
    ]);
    let first: Value = app.collect(&request).await.json().await.unwrap();
    assert_eq!(first["duplicates"], 0);
    for _ in 0..3 {
        let again = app.collect(&request).await;
        assert_eq!(again.status(), 200, "a replay is accepted");
        let receipt: Value = again.json().await.unwrap();
        assert_eq!(
            receipt,
            json!({"accepted": 2, "duplicates": 2, "ignored": 0})
        );
    }
    assert_eq!(app.nps("").await["responses"], 1);
    assert_eq!(
        app.touchpoints().await,
        json!([{"name": "support_contact", "count": 1}])
    );
}

async fn collect_stores_only_the_new_events_of_a_partly_replayed_batch(app: TestApp) {
    let stored = [response(9, noon()), touchpoint("page_view", noon())];
    let first = batch(stored.to_vec());
    assert_eq!(app.collect(&first).await.status(), 200);
    // The old events among new ones, before, between and after them, with one new event twice.
    let twice = response(0, noon());
    let mixed = batch(vec![
        response(10, noon()),
        stored[0].clone(),
        twice.clone(),
        touchpoint("page_view", noon()),
        stored[1].clone(),
        twice,
        response(7, noon()),
    ]);
    let receipt: Value = app.collect(&mixed).await.json().await.unwrap();
    assert_eq!(
        receipt,
        json!({"accepted": 7, "duplicates": 3, "ignored": 0})
    );
    let report = app.nps("").await;
    assert_eq!(
        (
            report["promoters"].clone(),
            report["passives"].clone(),
            report["detractors"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    assert_eq!(
        app.touchpoints().await,
        json!([{"name": "page_view", "count": 2}])
    );
    let rows = StoredRows::open(&app.database.url).await;
    rows.assert_stored_once(&event_ids(&mixed)).await;
    rows.assert_rollups_equal_raw_rows().await;
}

async fn collect_refuses_other_content_types(app: TestApp) {
    let body = batch(vec![response(9, noon())]).to_string();
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/html",
        "",
    ] {
        let code = error_code(app.post_collect(body.clone(), content_type).await, 415).await;
        assert_eq!(code, "unsupported_media_type", "{content_type:?}");
    }
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn collect_refuses_malformed_and_truncated_json(app: TestApp) {
    let whole = batch(vec![response(9, noon())]).to_string();
    let truncated = whole[..whole.len() / 2].to_owned();
    for body in [
        "",
        "{",
        "not json",
        "{\"site\": \"demo\",",
        "{\"site\": demo}",
        truncated.as_str(),
    ] {
        let code = error_code(app.post_collect(body.to_owned(), "text/plain").await, 400).await;
        assert_eq!(code, "malformed_json", "{body:?}");
    }
    // Well-formed JSON of the wrong shape breaks the request's rules instead.
    for body in [
        "[]",
        "{}",
        "null",
        "{\"site\":\"demo\",\"visitor\":1,\"events\":[]}",
    ] {
        let code = error_code(app.post_collect(body.to_owned(), "text/plain").await, 400).await;
        assert_eq!(code, "invalid_request", "{body:?}");
    }
}

async fn collect_refuses_invalid_utf8(app: TestApp) {
    let mut body = batch(vec![response(9, noon())]).to_string().into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    let code = error_code(app.post_collect(body, "application/json").await, 400).await;
    assert_eq!(code, "invalid_encoding");
}

async fn collect_refuses_a_score_above_ten_and_stores_nothing_of_the_batch(app: TestApp) {
    let request = batch(vec![response(10, noon()), response(11, noon())]);
    let response = app.collect(&request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("not 11"),
        "{body}"
    );
    assert_eq!(
        app.nps("").await["responses"],
        0,
        "a rejected batch stores nothing"
    );
}

async fn collect_refuses_a_body_over_64_kilobytes(app: TestApp) {
    let comment = "x".repeat(1900);
    let events = (0..40)
        .map(|_| json!({"type": "response", "id": event_id(), "at": noon(), "score": 5, "comment": comment}))
        .collect();
    let body = batch(events).to_string();
    assert!(body.len() > 64 * 1024);
    let code = error_code(app.post_collect(body, "text/plain").await, 413).await;
    assert_eq!(code, "payload_too_large");
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn collect_refuses_more_than_a_hundred_events(app: TestApp) {
    let events = (0..101).map(|_| touchpoint("page_view", noon())).collect();
    let code = error_code(app.collect(&batch(events)).await, 400).await;
    assert_eq!(code, "invalid_request");
}

async fn collect_refuses_an_unknown_site(app: TestApp) {
    let mut request = batch(vec![response(9, noon())]);
    request["site"] = json!("nobody");
    let code = error_code(app.collect(&request).await, 404).await;
    assert_eq!(code, "unknown_site");
}

async fn collect_refuses_pages_on_origins_the_site_does_not_list(app: TestApp) {
    let body = batch(vec![response(9, noon())]).to_string();
    let refused = app
        .client
        .post(format!("{}/v1/collect", app.address))
        .header("Content-Type", "text/plain")
        .header("Origin", "https://evil.example")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(error_code(refused, 403).await, "origin_not_allowed");

    let allowed = app.post_collect(body.clone(), "text/plain").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        SHOP_ORIGIN
    );
    assert_eq!(allowed.status(), 200);

    // Without an Origin header the request is not from a browser page: servers may relay answers.
    let relayed = app
        .client
        .post(format!("{}/v1/collect", app.address))
        .header("Content-Type", "application/json")
        .body(batch(vec![response(3, noon())]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), 200);
    assert_eq!(app.nps("").await["responses"], 2);
}

async fn collect_keeps_hostile_text_as_plain_text(app: TestApp) {
    let hostile = "'); DROP TABLE events; -- <script>alert(1)</script> \u{202e}ǝʇɐʇs";
    let request = batch(vec![
        json!({"type": "response", "id": event_id(), "at": noon(), "score": 2, "comment": hostile}),
    ]);
    assert_eq!(app.collect(&request).await.status(), 200);
    // The tables are intact and the answer counted.
    assert_eq!(app.nps("").await["detractors"], 1);
    assert_eq!(
        app.collect(&batch(vec![response(9, noon())]))
            .await
            .status(),
        200
    );
    assert_eq!(app.nps("").await["responses"], 2);
}

async fn collect_refuses_a_nul_character(app: TestApp) {
    let request = batch(vec![
        json!({"type": "response", "id": event_id(), "at": noon(), "score": 2, "comment": "a\u{0}b"}),
    ]);
    let code = error_code(app.collect(&request).await, 400).await;
    assert_eq!(code, "invalid_request");
}

async fn collect_answers_the_cors_preflight(app: TestApp) {
    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/collect", app.address),
        )
        .header("Origin", SHOP_ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        SHOP_ORIGIN
    );
    assert_eq!(response.headers()["access-control-allow-methods"], "POST");
}

async fn collect_only_takes_post(app: TestApp) {
    let code = error_code(app.get_as("/v1/collect", None).await, 405).await;
    assert_eq!(code, "method_not_allowed");
}

async fn collect_answers_bots_but_stores_nothing_of_theirs(app: TestApp) {
    for agent in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
    ] {
        let response = app
            .client
            .post(format!("{}/v1/collect", app.address))
            .header("Content-Type", "text/plain")
            .header("User-Agent", agent)
            .body(batch(vec![response(10, noon()), touchpoint("page_view", noon())]).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{agent}");
        let receipt: Value = response.json().await.unwrap();
        assert_eq!(
            receipt,
            json!({"accepted": 0, "duplicates": 0, "ignored": 2})
        );
    }
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn collect_stores_a_batch_replayed_concurrently_once(app: TestApp) {
    let request = batch(vec![
        response(10, noon()),
        response(0, noon()),
        touchpoint("page_view", noon()),
    ]);
    // All 100 are sent concurrently, not one after another.
    let replays = (0..100).map(|_| app.collect(&request));
    let answers = futures_util::future::join_all(replays).await;
    let mut new = 0;
    for answer in answers {
        assert_eq!(answer.status(), 200);
        let receipt: Value = answer.json().await.unwrap();
        assert_eq!(receipt["accepted"], 3);
        new += 3 - receipt["duplicates"].as_u64().unwrap();
    }
    assert_eq!(new, 3, "exactly one delivery stored each event");
    let report = app.nps("").await;
    assert_eq!(
        (report["promoters"].clone(), report["detractors"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        app.touchpoints().await,
        json!([{"name": "page_view", "count": 1}])
    );
    let stored = StoredRows::open(&app.database.url).await;
    let rows = stored.assert_stored_once(&event_ids(&request)).await;
    assert_eq!(
        rows.len(),
        3,
        "the database holds the three events and nothing else"
    );
    stored.assert_rollups_equal_raw_rows().await;
}

/// Rate limits live in memory, the same on every backend: these run on SQLite.
fn tight_limits(site_per_second: u32, client_per_second: u32) -> RateSettings {
    RateSettings {
        site_per_second: NonZeroU32::new(site_per_second).unwrap(),
        client_per_second: NonZeroU32::new(client_per_second).unwrap(),
    }
}

async fn post_as(app: &TestApp, client: &str, request: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/collect", app.address))
        .header("Content-Type", "text/plain")
        .header("X-Forwarded-For", client)
        .body(request.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_over_its_rate_is_told_when_to_come_back() {
    let proxies = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let app = TestApp::spawn_with(TestDatabase::sqlite(), tight_limits(1000, 2), proxies).await;
    // A burst of twice the rate passes.
    for _ in 0..4 {
        assert_eq!(
            post_as(&app, "198.51.100.1", &batch(vec![response(9, noon())]))
                .await
                .status(),
            200
        );
    }
    let refused = post_as(&app, "198.51.100.1", &batch(vec![response(9, noon())])).await;
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "Retry-After is at least a second");
    assert_eq!(error_code(refused, 429).await, "rate_limited");
    // Another visitor of the same site is not held back by the first.
    assert_eq!(
        post_as(&app, "198.51.100.2", &batch(vec![response(9, noon())]))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.nps("").await["responses"],
        5,
        "refused batches store nothing"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(
        TestDatabase::sqlite(),
        tight_limits(1000, 1),
        TrustedProxies::default(),
    )
    .await;
    // Without a trusted proxy every request is from 127.0.0.1, whatever the header claims.
    for n in 0..2 {
        assert_eq!(
            post_as(
                &app,
                &format!("198.51.100.{n}"),
                &batch(vec![response(9, noon())])
            )
            .await
            .status(),
            200
        );
    }
    let refused = post_as(&app, "198.51.100.99", &batch(vec![response(9, noon())])).await;
    assert_eq!(error_code(refused, 429).await, "rate_limited");
}

#[tokio::test]
async fn a_flooded_site_does_not_hold_back_another_site() {
    let proxies = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let app = TestApp::spawn_with(TestDatabase::sqlite(), tight_limits(2, 1000), proxies).await;
    app.create_site("other").await;
    for n in 0..4 {
        assert_eq!(
            post_as(
                &app,
                &format!("198.51.100.{n}"),
                &batch(vec![response(9, noon())])
            )
            .await
            .status(),
            200
        );
    }
    let refused = post_as(&app, "198.51.100.50", &batch(vec![response(9, noon())])).await;
    assert_eq!(error_code(refused, 429).await, "rate_limited");
    let mut other = batch(vec![response(9, noon())]);
    other["site"] = json!("other");
    assert_eq!(post_as(&app, "198.51.100.50", &other).await.status(), 200);
}
