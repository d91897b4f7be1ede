//! Webhooks, end to end: a real receiver on a free port records what the collector delivers
//! (and can be told to fail); signatures are checked here with HMAC-SHA256 written out in the
//! test, not with the collector's own code.

use crate::helpers::*;
use crate::on_every_backend;
use crate::process::Collector;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use touchstone_server::api_key::KeyScope;
use touchstone_server::webhooks::dispatcher::DispatchSettings;
use touchstone_server::webhooks::schedule::RetryPolicy;

on_every_backend!(
    spawn = crate::webhooks::spawn;
    a_detractor_answer_produces_exactly_one_signed_delivery,
    a_promoter_gets_nothing_from_a_detractor_only_subscription,
    the_touchpoint_filter_looks_at_the_journey_before_the_answer,
    the_trait_filter_looks_at_the_customer,
    a_failing_receiver_is_retried_with_backoff_until_it_succeeds,
    retry_after_is_honoured_and_410_gone_disables_the_subscription,
    a_duplicated_batch_makes_one_delivery,
    hostile_input_gets_clear_json_errors,
    read_keys_and_other_sites_cannot_manage_webhooks,
    a_subscription_is_managed_paused_rotated_and_deleted,
    the_slack_format_is_a_signed_slack_message,
    a_test_delivery_reaches_the_receiver,
    erasure_removes_pending_deliveries_and_their_payloads,
    imported_history_pages_nobody,
);

/// The retry schedule of these tests: 300 ms, then 1.2 s, at most 4 attempts.
fn fast() -> DispatchSettings {
    DispatchSettings {
        poll: Duration::from_millis(50),
        retry: RetryPolicy {
            base: Duration::from_millis(300),
            max_delay: Duration::from_secs(3),
            max_attempts: 4,
            max_age: Duration::from_secs(3600),
        },
        concurrency: 4,
        lease: Duration::from_secs(30),
        retention: Duration::from_secs(24 * 3600),
    }
}

async fn spawn(database: TestDatabase) -> TestApp {
    TestApp::spawn_with_webhooks(database, fast()).await
}

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    requests: Vec<Received>,
    /// Replies to give first, in order; then `otherwise`.
    script: VecDeque<Reply>,
    otherwise: Option<Reply>,
}

/// A webhook receiver: a real HTTP server on a free port of 127.0.0.1.
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Starts one that answers `200` until told otherwise.
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = web::Data::from(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/touchstone", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url,
            state,
            server: handle,
        }
    }

    /// Answers these statuses to the next requests, in order.
    fn answer_next(&self, statuses: &[u16]) {
        let mut state = self.state.lock().unwrap();
        state.script.extend(statuses.iter().map(|&status| Reply {
            status,
            retry_after: None,
        }));
    }

    /// Answers `reply` to the next request.
    fn reply_next(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    /// Answers `status` to every request from now on (after any scripted ones).
    fn always(&self, status: u16) {
        self.state.lock().unwrap().otherwise = Some(Reply {
            status,
            retry_after: None,
        });
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Waits until `count` requests have arrived (at most `within`) and returns them.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests within {within:?}, not {count}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits `quiet` and checks that exactly `count` requests arrived in all.
    async fn assert_stays_at(&self, count: usize, quiet: Duration) -> Vec<Received> {
        tokio::time::sleep(quiet).await;
        let received = self.received();
        assert_eq!(
            received.len(),
            count,
            "the receiver got {} requests: {:?}",
            received.len(),
            received.iter().map(Received::json).collect::<Vec<_>>()
        );
        received
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn record(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<ReceiverState>>,
) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut state = state.lock().unwrap();
    state.requests.push(Received {
        at: Instant::now(),
        headers,
        body: body.to_vec(),
    });
    let reply = state
        .script
        .pop_front()
        .or_else(|| state.otherwise.clone())
        .unwrap_or(Reply {
            status: 200,
            retry_after: None,
        });
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    if let Some(retry_after) = reply.retry_after {
        response.insert_header(("Retry-After", retry_after));
    }
    response.body(format!("receiver says {}", reply.status))
}

/// Whether `received` carries a valid Standard Webhooks signature made with `secret`, checked
/// as a receiver would: HMAC-SHA256 of `id.timestamp.body` with the secret's decoded bytes, any
/// of the space-separated `v1,` signatures, and a timestamp within five minutes.
fn signed_with(secret: &str, received: &Received) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let (id, timestamp) = (
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    let now = jiff::Timestamp::now().as_second();
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|at| (now - at).abs() < 300);
    fresh
        && received
            .header("webhook-signature")
            .split(' ')
            .any(|signature| signature == expected)
}

impl TestApp {
    async fn admin(&self) -> String {
        self.create_key(KeyScope::Admin).await
    }

    /// `method path` with `key` and an optional JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(
                method.parse().unwrap(),
                format!("{}/v1/sites/{}/webhooks{path}", self.address, self.site),
            )
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// Creates a subscription, asserting `201`; returns the answer (with the secret).
    async fn subscribe(&self, key: &str, body: Value) -> Value {
        let response = self.call("POST", "", key, Some(&body)).await;
        assert_eq!(response.status(), 201, "{body}");
        response.json().await.unwrap()
    }

    /// A page of a subscription's delivery log.
    async fn deliveries(&self, key: &str, id: &Value) -> Vec<Value> {
        let response = self
            .call("GET", &format!("/{id}/deliveries"), key, None)
            .await;
        assert_eq!(response.status(), 200);
        let log: Value = response.json().await.unwrap();
        log["deliveries"].as_array().unwrap().clone()
    }

    /// Waits until the log's newest delivery has `status` with `attempts` attempts recorded.
    async fn wait_for_delivery(&self, key: &str, id: &Value, status: &str, attempts: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.deliveries(key, id).await;
            if let Some(newest) = log.first()
                && newest["status"] == status
                && newest["attempts"] == attempts
            {
                return newest.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {status} delivery with {attempts} attempts: {log:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A collect request from one new visitor: an identify as `customer` (plan `pro`), a
/// touchpoint, then an answer with a comment.
fn visit(customer: &str, touchpoint_name: &str, score: u8) -> Value {
    let at = jiff::Timestamp::now().as_millisecond() - 60_000;
    batch(vec![
        identify(customer, at - 2_000),
        touchpoint(touchpoint_name, at - 1_000),
        json!({ "type": "response", "id": event_id(), "at": at, "score": score,
                "comment": format!("Scored {score}") }),
    ])
}

async fn a_detractor_answer_produces_exactly_one_signed_delivery(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app
        .subscribe(
            &key,
            json!({ "url": receiver.url, "filters": { "category": "detractor" } }),
        )
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));

    let request = visit("cus_42", "support_contact", 3);
    assert_eq!(app.collect(&request).await.status(), 200);
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let delivery = &received[0];
    assert!(signed_with(secret, delivery), "the signature verifies");
    assert!(!signed_with(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        delivery
    ));
    assert_eq!(delivery.header("content-type"), "application/json");
    assert!(
        delivery
            .header("user-agent")
            .starts_with("Touchstone-Webhooks/")
    );
    assert!(delivery.header("webhook-id").starts_with("msg_"));

    let body = delivery.json();
    let answer_id = request["events"][2]["id"].as_str().unwrap();
    assert_eq!(body["type"], "nps.answer");
    assert_eq!(body["data"]["site"], "demo");
    assert_eq!(body["data"]["response"]["id"], answer_id);
    assert_eq!(body["data"]["response"]["score"], 3);
    assert_eq!(body["data"]["response"]["category"], "detractor");
    assert_eq!(body["data"]["response"]["comment"], "Scored 3");
    assert_eq!(body["data"]["visitor"], request["visitor"]);
    assert_eq!(
        body["data"]["customer"],
        json!({ "id": "cus_42", "traits": { "plan": "pro", "account": "acme" } })
    );
    assert_eq!(body["data"]["journey"][0]["name"], "support_contact");

    // The answer is in the responses listing under the same id: a link-friendly id.
    let listed: Value = app
        .get_with_key(&format!("/v1/sites/{}/responses", app.site))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["responses"][0]["id"], answer_id);

    receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
    let log = app.deliveries(&key, &created["id"]).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["message_id"], delivery.header("webhook-id"));
    assert_eq!(log[0]["log"][0]["status_code"], 200);
    assert_eq!(log[0]["log"][0]["response_excerpt"], "receiver says 200");
}

/// Answers imported from another tool's export are history: a detractor of last spring is not
/// delivered as if they had just answered.
async fn imported_history_pages_nobody(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    app.subscribe(&key, json!({ "url": receiver.url })).await;
    let imported = app
        .client
        .post(format!(
            "{}/v1/sites/{}/imports/responses",
            app.address, app.site
        ))
        .bearer_auth(&key)
        .header("Content-Type", "text/csv")
        .body("Email,Score,Comment,Date\nold@example.com,2,Slow,2025-04-01\n")
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    assert_eq!(
        app.collect(&visit("cus_live", "page_view", 3))
            .await
            .status(),
        200
    );
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let received = receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
    assert_eq!(
        received[0].json()["data"]["response"]["score"],
        3,
        "only the live answer"
    );
}

async fn a_promoter_gets_nothing_from_a_detractor_only_subscription(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app
        .subscribe(
            &key,
            json!({ "url": receiver.url, "filters": { "category": "detractor" } }),
        )
        .await;
    for score in [10, 9, 7] {
        assert_eq!(
            app.collect(&visit("cus_1", "page_view", score))
                .await
                .status(),
            200
        );
    }
    // A detractor afterwards: once it has arrived, the answers before it were routed too.
    assert_eq!(
        app.collect(&visit("cus_2", "page_view", 6)).await.status(),
        200
    );
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let received = receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
    assert_eq!(received[0].json()["data"]["response"]["score"], 6);
    assert_eq!(app.deliveries(&key, &created["id"]).await.len(), 1);
}

async fn the_touchpoint_filter_looks_at_the_journey_before_the_answer(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    app.subscribe(
        &key,
        json!({ "url": receiver.url,
                "filters": { "touchpoint": "support_contact", "window_days": 7 } }),
    )
    .await;
    let now = jiff::Timestamp::now().as_millisecond();
    let answer = |score: u8, at: i64| json!({ "type": "response", "id": event_id(), "at": at, "score": score });
    // Reached support the day before: delivered.
    let helped = batch(vec![
        touchpoint("support_contact", now - DAY),
        answer(4, now - 1000),
    ]);
    // Reached support only after answering: not delivered.
    let later = batch(vec![
        answer(5, now - 2 * HOUR),
        touchpoint("support_contact", now - HOUR),
    ]);
    // Reached support ten days before: outside the window.
    let long_ago = batch(vec![
        touchpoint("support_contact", now - 10 * DAY),
        answer(6, now - 1000),
    ]);
    // Never reached it.
    let never = batch(vec![
        touchpoint("pricing_viewed", now - HOUR),
        answer(7, now - 1000),
    ]);
    for request in [&later, &long_ago, &never, &helped] {
        assert_eq!(app.collect(request).await.status(), 200);
    }
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let received = receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
    let body = received[0].json();
    assert_eq!(body["data"]["visitor"], helped["visitor"]);
    assert_eq!(
        body["data"]["customer"],
        Value::Null,
        "an anonymous visitor"
    );
}

async fn the_trait_filter_looks_at_the_customer(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    app.subscribe(
        &key,
        json!({ "url": receiver.url,
                "filters": { "trait": { "name": "plan", "value": "enterprise" }, "max_score": 8 } }),
    )
    .await;
    let at = jiff::Timestamp::now().as_millisecond() - 1000;
    let customer = |plan: &str, score: u8| {
        batch(vec![
            json!({ "type": "identify", "id": event_id(), "at": at - 10, "customer": format!("cus_{plan}"),
                    "traits": { "plan": plan } }),
            json!({ "type": "response", "id": event_id(), "at": at, "score": score }),
        ])
    };
    for request in [
        customer("free", 2),
        customer("enterprise", 9),
        customer("enterprise", 8),
    ] {
        assert_eq!(app.collect(&request).await.status(), 200);
    }
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let received = receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
    let body = received[0].json();
    assert_eq!(body["data"]["customer"]["id"], "cus_enterprise");
    assert_eq!(body["data"]["response"]["score"], 8);
}

async fn a_failing_receiver_is_retried_with_backoff_until_it_succeeds(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 503]);
    let key = app.admin().await;
    let created = app.subscribe(&key, json!({ "url": receiver.url })).await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(
        app.collect(&visit("cus_7", "page_view", 2)).await.status(),
        200
    );

    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    // The same message each time, signed afresh.
    let ids: HashSet<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same webhook-id");
    assert!(received.iter().all(|r| signed_with(secret, r)));
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "the same bytes"
    );
    // Backoff: about 300 ms, then about 1.2 s (each ±20%).
    let first_wait = received[1].at - received[0].at;
    let second_wait = received[2].at - received[1].at;
    assert!(first_wait >= Duration::from_millis(240), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(960), "{second_wait:?}");
    assert!(
        second_wait > first_wait,
        "{first_wait:?} then {second_wait:?}"
    );

    let delivery = app
        .wait_for_delivery(&key, &created["id"], "delivered", 3)
        .await;
    let statuses: Vec<&Value> = delivery["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| &attempt["status_code"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(delivery["log"][0]["attempt"], 1);
    assert_eq!(delivery["log"][0]["response_excerpt"], "receiver says 500");
    receiver
        .assert_stays_at(3, Duration::from_millis(500))
        .await;

    // A receiver that never recovers is given up after the fourth attempt.
    receiver.always(500);
    assert_eq!(
        app.collect(&visit("cus_8", "page_view", 2)).await.status(),
        200
    );
    let failed = app
        .wait_for_delivery(&key, &created["id"], "failed", 4)
        .await;
    assert!(failed["finished_at"].is_i64());
    receiver
        .assert_stays_at(7, Duration::from_millis(800))
        .await;

    let metrics = app.get_as("/metrics", None).await.text().await.unwrap();
    for name in [
        "touchstone_webhook_delivered_total",
        "touchstone_webhook_retried_total",
        "touchstone_webhook_failed_total",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
}

async fn retry_after_is_honoured_and_410_gone_disables_the_subscription(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.reply_next(Reply {
        status: 429,
        retry_after: Some("2"),
    });
    let key = app.admin().await;
    let created = app.subscribe(&key, json!({ "url": receiver.url })).await;
    assert_eq!(
        app.collect(&visit("cus_9", "page_view", 1)).await.status(),
        200
    );
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    let wait = received[1].at - received[0].at;
    assert!(
        wait >= Duration::from_millis(1900),
        "Retry-After: 2 asked for two seconds, not the 300 ms backoff: {wait:?}"
    );

    receiver.always(410);
    assert_eq!(
        app.collect(&visit("cus_10", "page_view", 1)).await.status(),
        200
    );
    let gone = app
        .wait_for_delivery(&key, &created["id"], "failed", 1)
        .await;
    assert_eq!(gone["log"][0]["status_code"], 410);
    let shown: Value = app
        .call("GET", &format!("/{}", created["id"]), &key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["state"], "disabled");
    // Disabled: later answers make no delivery.
    assert_eq!(
        app.collect(&visit("cus_11", "page_view", 1)).await.status(),
        200
    );
    receiver
        .assert_stays_at(3, Duration::from_millis(700))
        .await;
    assert_eq!(app.deliveries(&key, &created["id"]).await.len(), 2);

    // Resumed, it delivers again.
    receiver.always(200);
    let resumed = app
        .call(
            "PATCH",
            &format!("/{}", created["id"]),
            &key,
            Some(&json!({ "paused": false })),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    assert_eq!(
        app.collect(&visit("cus_12", "page_view", 1)).await.status(),
        200
    );
    receiver.wait_for(4, Duration::from_secs(10)).await;
}

async fn a_duplicated_batch_makes_one_delivery(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app.subscribe(&key, json!({ "url": receiver.url })).await;
    let request = visit("cus_3", "page_view", 0);
    assert_eq!(app.collect(&request).await.status(), 200);
    // The same batch again, and twice at once: a widget retrying after a lost answer.
    assert_eq!(app.collect(&request).await.status(), 200);
    let (a, b) = tokio::join!(app.collect(&request), app.collect(&request));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    receiver.wait_for(1, Duration::from_secs(10)).await;
    receiver
        .assert_stays_at(1, Duration::from_millis(700))
        .await;
    assert_eq!(app.deliveries(&key, &created["id"]).await.len(), 1);
}

async fn hostile_input_gets_clear_json_errors(app: TestApp) {
    let key = app.admin().await;
    let url = "https://hooks.example/touchstone";
    let refused = [
        json!({}),
        json!({ "url": "" }),
        json!({ "url": "not a url" }),
        json!({ "url": "ftp://files.example/drop" }),
        json!({ "url": "javascript:alert(1)" }),
        json!({ "url": "file:///etc/passwd" }),
        json!({ "url": "/relative" }),
        json!({ "url": format!("https://a.example/{}", "x".repeat(2100)) }),
        json!({ "url": 42 }),
        json!({ "url": url, "format": "xml" }),
        json!({ "url": url, "secret": "whsec_mine" }),
        json!({ "url": url, "filters": { "category": "angry" } }),
        json!({ "url": url, "filters": { "max_score": 11 } }),
        json!({ "url": url, "filters": { "touchpoint": "Support Page" } }),
        json!({ "url": url, "filters": { "window_days": 0 } }),
        json!({ "url": url, "filters": { "trait": { "name": "plan" } } }),
        json!({ "url": url, "filters": { "trait": "plan=pro" } }),
        json!({ "url": url, "filters": { "colour": "red" } }),
        json!({ "url": url, "filters": { "category": "promoter", "max_score": 3 } }),
        json!({ "url": url, "description": "two\nlines" }),
        json!({ "url": url, "description": "x".repeat(201) }),
        json!([url]),
    ];
    for body in refused {
        let response = app.call("POST", "", &key, Some(&body)).await;
        assert_eq!(error_code(response, 400).await, "invalid_request", "{body}");
    }
    let post = |body: String, content_type: &str| {
        app.client
            .post(format!("{}/v1/sites/{}/webhooks", app.address, app.site))
            .bearer_auth(&key)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let malformed = post(r#"{"url": "https://a.example/"#.into(), "application/json")
        .await
        .unwrap();
    assert_eq!(error_code(malformed, 400).await, "malformed_json");
    let huge = json!({ "url": url, "description": "x".repeat(20_000) }).to_string();
    let too_large = post(huge, "application/json").await.unwrap();
    assert_eq!(error_code(too_large, 413).await, "payload_too_large");
    let form = post(format!("url={url}"), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(error_code(form, 415).await, "unsupported_media_type");

    // Nothing of it was stored.
    let listed: Value = app.call("GET", "", &key, None).await.json().await.unwrap();
    assert_eq!(listed["webhooks"], json!([]));

    let created = app.subscribe(&key, json!({ "url": url })).await;
    let id = &created["id"];
    for (method, path) in [
        ("GET", "/999999".to_owned()),
        ("PATCH", "/999999".to_owned()),
        ("DELETE", "/999999".to_owned()),
        ("POST", "/999999/test".to_owned()),
        ("POST", "/999999/rotate-secret".to_owned()),
        ("GET", "/999999/deliveries".to_owned()),
    ] {
        let response = app.call(method, &path, &key, Some(&json!({}))).await;
        assert_eq!(
            error_code(response, 404).await,
            "unknown_webhook",
            "{method} {path}"
        );
    }
    let response = app.call("GET", "/abc", &key, None).await;
    assert_eq!(error_code(response, 400).await, "invalid_parameter");
    for query in ["?limit=0", "?limit=101", "?status=lost", "?before=x"] {
        let response = app
            .call("GET", &format!("/{id}/deliveries{query}"), &key, None)
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{query}"
        );
    }
    for change in [
        json!({ "url": "gopher://x.example/" }),
        json!({ "paused": "yes" }),
        json!({ "filters": { "max_score": 99 } }),
        json!({ "state": "active" }),
    ] {
        let response = app
            .call("PATCH", &format!("/{id}"), &key, Some(&change))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_request",
            "{change}"
        );
    }
    let response = app
        .call("PUT", &format!("/{id}"), &key, Some(&json!({})))
        .await;
    assert_eq!(error_code(response, 405).await, "method_not_allowed");

    // At most fifty per site.
    for _ in 1..50 {
        app.subscribe(&key, json!({ "url": url })).await;
    }
    let response = app
        .call("POST", "", &key, Some(&json!({ "url": url })))
        .await;
    assert_eq!(error_code(response, 400).await, "invalid_request");
}

async fn read_keys_and_other_sites_cannot_manage_webhooks(app: TestApp) {
    let admin = app.admin().await;
    let created = app
        .subscribe(&admin, json!({ "url": "https://hooks.example/a" }))
        .await;
    let id = created["id"].clone();
    let routes = [
        (
            "POST",
            String::new(),
            Some(json!({ "url": "https://hooks.example/b" })),
        ),
        ("GET", String::new(), None),
        ("GET", format!("/{id}"), None),
        ("PATCH", format!("/{id}"), Some(json!({ "paused": true }))),
        ("DELETE", format!("/{id}"), None),
        ("POST", format!("/{id}/rotate-secret"), None),
        ("POST", format!("/{id}/test"), None),
        ("GET", format!("/{id}/deliveries"), None),
    ];
    for (method, path, body) in &routes {
        let response = app.call(method, path, &app.api_key, body.as_ref()).await;
        assert_eq!(
            error_code(response, 403).await,
            "forbidden",
            "read key: {method} {path}"
        );
        let response = app.call(method, path, "tsk_wrong", body.as_ref()).await;
        assert_eq!(
            error_code(response, 401).await,
            "unauthorized",
            "no key: {method} {path}"
        );
    }
    // Another site's admin key, on its own site, does not see this site's subscription.
    let (other, _) = app.create_site("other").await;
    let other_admin = app.create_key_for(other.as_str(), KeyScope::Admin).await;
    let response = app
        .client
        .get(format!("{}/v1/sites/other/webhooks/{id}", app.address))
        .bearer_auth(&other_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 404).await, "unknown_webhook");
    // And cannot use it on this site.
    let response = app.call("GET", &format!("/{id}"), &other_admin, None).await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    let listed: Value = app
        .call("GET", "", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["webhooks"].as_array().unwrap().len(),
        1,
        "nothing changed"
    );
    assert_eq!(listed["webhooks"][0]["state"], "active");
}

async fn a_subscription_is_managed_paused_rotated_and_deleted(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app
        .subscribe(
            &key,
            json!({ "url": receiver.url, "description": " Support team ",
                    "filters": { "max_score": 6, "touchpoint": "complaint" } }),
        )
        .await;
    let id = created["id"].clone();
    assert_eq!(created["description"], "Support team");
    assert_eq!(created["format"], "standard");
    assert_eq!(created["state"], "active");
    assert_eq!(
        created["filters"],
        json!({ "category": null, "max_score": 6, "touchpoint": "complaint", "trait": null,
                "window_days": 30 })
    );
    let shown: Value = app
        .call("GET", &format!("/{id}"), &key, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown only once: {shown}"
    );
    let listed: Value = app.call("GET", "", &key, None).await.json().await.unwrap();
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
    assert_eq!(listed["webhooks"][0]["id"], id);

    // No filters: every answer. Paused: none, until resumed.
    let changed: Value = app
        .call(
            "PATCH",
            &format!("/{id}"),
            &key,
            Some(&json!({ "filters": {}, "paused": true, "description": "" })),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["state"], "paused");
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["filters"]["max_score"], Value::Null);
    assert_eq!(
        app.collect(&visit("cus_5", "page_view", 9)).await.status(),
        200
    );
    receiver
        .assert_stays_at(0, Duration::from_millis(500))
        .await;
    let resumed = app
        .call(
            "PATCH",
            &format!("/{id}"),
            &key,
            Some(&json!({ "paused": false })),
        )
        .await;
    assert_eq!(resumed.status(), 200);

    // After a rotation, deliveries carry both signatures for a day.
    let old_secret = created["secret"].as_str().unwrap().to_owned();
    let rotated: Value = app
        .call("POST", &format!("/{id}/rotate-secret"), &key, None)
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    assert!(
        rotated["previous_secret_valid_until"].as_i64().unwrap()
            > jiff::Timestamp::now().as_millisecond()
    );
    assert_eq!(
        app.collect(&visit("cus_6", "page_view", 10)).await.status(),
        200
    );
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(signed_with(new_secret, &received[0]));
    assert!(signed_with(&old_secret, &received[0]));
    assert_eq!(
        received[0].header("webhook-signature").split(' ').count(),
        2
    );
    assert_eq!(
        received[0].json()["data"]["response"]["score"],
        10,
        "the paused answer was skipped"
    );

    let deleted = app.call("DELETE", &format!("/{id}"), &key, None).await;
    assert_eq!(deleted.status(), 204);
    let again = app.call("GET", &format!("/{id}"), &key, None).await;
    assert_eq!(error_code(again, 404).await, "unknown_webhook");
    assert_eq!(
        app.collect(&visit("cus_6", "page_view", 1)).await.status(),
        200
    );
    receiver
        .assert_stays_at(1, Duration::from_millis(500))
        .await;
}

async fn the_slack_format_is_a_signed_slack_message(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app
        .subscribe(&key, json!({ "url": receiver.url, "format": "slack" }))
        .await;
    let request = batch(vec![
        identify("cus_<!here>", noon_days_ago(0) - 10),
        json!({ "type": "response", "id": event_id(), "at": jiff::Timestamp::now().as_millisecond() - 1000,
                "score": 2, "comment": "Broken <https://evil.example|link> & slow" }),
    ]);
    assert_eq!(app.collect(&request).await.status(), 200);
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(signed_with(
        created["secret"].as_str().unwrap(),
        &received[0]
    ));
    let message = received[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(text.starts_with("Detractor 2/10 on demo"), "{text}");
    assert!(
        !text.contains('<') && !text.contains('>'),
        "escaped for Slack: {text}"
    );
    assert!(
        text.contains("&lt;https://evil.example|link&gt; &amp; slow"),
        "{text}"
    );
    assert_eq!(message["blocks"][0]["type"], "section");
    assert_eq!(message["blocks"][0]["text"]["type"], "mrkdwn");
    assert!(
        message.get("type").is_none(),
        "a Slack message, not the standard envelope"
    );
}

async fn a_test_delivery_reaches_the_receiver(app: TestApp) {
    let receiver = Receiver::start().await;
    let key = app.admin().await;
    let created = app
        .subscribe(
            &key,
            json!({ "url": receiver.url, "filters": { "category": "promoter" } }),
        )
        .await;
    let queued = app
        .call("POST", &format!("/{}/test", created["id"]), &key, None)
        .await;
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(signed_with(
        created["secret"].as_str().unwrap(),
        &received[0]
    ));
    let body = received[0].json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["subscription"], created["id"]);
    let delivery = app
        .wait_for_delivery(&key, &created["id"], "delivered", 1)
        .await;
    assert_eq!(delivery["id"], queued["delivery"]);
    assert_eq!(delivery["event_type"], "webhook.test");
}

async fn erasure_removes_pending_deliveries_and_their_payloads(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.always(500);
    let key = app.admin().await;
    let created = app.subscribe(&key, json!({ "url": receiver.url })).await;
    let request = visit("anna@example.com", "complaint", 1);
    assert_eq!(app.collect(&request).await.status(), 200);
    app.wait_for_delivery(&key, &created["id"], "pending", 1)
        .await;

    let privacy = |action: &str| {
        app.client
            .post(format!(
                "{}/v1/sites/{}/privacy/{action}",
                app.address, app.site
            ))
            .bearer_auth(&key)
            .json(&json!({ "customer": "anna@example.com" }))
            .send()
    };
    let export: Value = privacy("export").await.unwrap().json().await.unwrap();
    let held = export["webhook_deliveries"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{export}");
    assert_eq!(held[0]["subscription"], created["id"]);
    assert_eq!(
        held[0]["payload"]["data"]["response"]["comment"],
        "Scored 1"
    );

    let erased = privacy("erase").await.unwrap();
    assert_eq!(erased.status(), 200);
    assert!(app.deliveries(&key, &created["id"]).await.is_empty());
    let export: Value = privacy("export").await.unwrap().json().await.unwrap();
    assert_eq!(export["webhook_deliveries"], json!([]));
    // No further attempt: the retry would have come 300 ms after the first. (One already on
    // the wire when the erasure ran would have arrived within these 200 ms.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = receiver.received().len();
    receiver
        .assert_stays_at(before, Duration::from_secs(2))
        .await;
}

/// A restart between attempts loses nothing: the delivery waits in the outbox, and the new
/// process sends it when it is due, under the same `webhook-id`.
async fn a_restart_between_attempts_loses_nothing(database: TestDatabase) {
    let receiver = Receiver::start().await;
    receiver.always(500);
    let settings = [
        ("TOUCHSTONE_WEBHOOK_POLL_MS", "100"),
        ("TOUCHSTONE_WEBHOOK_RETRY_BASE_MS", "2000"),
    ];
    let mut first = Collector::start_with_env(&database.url, &settings);
    first.create_site("demo", SHOP_ORIGIN);
    let key = create_key(&database.url, "demo", KeyScope::Admin).await;
    let client = crate::helpers::http_client();
    let created: Value = client
        .post(format!("{}/v1/sites/demo/webhooks", first.address))
        .bearer_auth(&key)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let log_of = |address: String| {
        let (client, key, id) = (client.clone(), key.clone(), created["id"].clone());
        async move {
            let log: Value = client
                .get(format!("{address}/v1/sites/demo/webhooks/{id}/deliveries"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            log["deliveries"].as_array().unwrap().clone()
        }
    };
    let answer = collect_at(&client, &first.address, &visit("cus_r", "complaint", 0))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // Wait until the failed attempt is recorded, then kill the collector outright.
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_of(first.address.clone())
        .await
        .first()
        .map(|d| d["attempts"].clone())
        != Some(json!(1))
    {
        assert!(
            Instant::now() < deadline,
            "the first attempt was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();
    receiver.always(200);

    let second = Collector::start_with_env(&database.url, &settings);
    let received = receiver.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert!(signed_with(&secret, &received[1]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = log_of(second.address.clone()).await;
        if log[0]["status"] == "delivered" {
            assert_eq!(log.len(), 1);
            assert_eq!(log[0]["attempts"], 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recorded as delivered: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver
        .assert_stays_at(2, Duration::from_millis(500))
        .await;
    eprintln!(
        "{}: a delivery failed, the collector was killed, a new one delivered it",
        database.backend
    );
}

#[tokio::test]
async fn a_restart_between_attempts_loses_nothing_on_sqlite() {
    a_restart_between_attempts_loses_nothing(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_restart_between_attempts_loses_nothing_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_restart_between_attempts_loses_nothing(database).await;
    }
}

/// Two collectors on one PostgreSQL, both routing and sending: every answer is delivered once,
/// whichever collector stored it and whichever leased its delivery.
#[tokio::test]
async fn two_collectors_on_one_postgresql_deliver_each_answer_once() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let receiver = Receiver::start().await;
    // Slow answers keep deliveries leased while the other collector looks for work.
    receiver.answer_next(&[500; 5]);
    let settings = [
        ("TOUCHSTONE_WEBHOOK_POLL_MS", "20"),
        ("TOUCHSTONE_WEBHOOK_RETRY_BASE_MS", "100"),
    ];
    let collectors = [
        Collector::start_with_env(&database.url, &settings),
        Collector::start_with_env(&database.url, &settings),
    ];
    collectors[0].create_site("demo", SHOP_ORIGIN);
    let key = create_key(&database.url, "demo", KeyScope::Admin).await;
    let client = crate::helpers::http_client();
    let created = client
        .post(format!("{}/v1/sites/demo/webhooks", collectors[0].address))
        .bearer_auth(&key)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The second collector learns of the subscription within its poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    const ANSWERS: usize = 40;
    let mut requests = Vec::new();
    for n in 0..ANSWERS {
        let request = visit(&format!("cus_{n}"), "page_view", (n % 11) as u8);
        // Each batch to both collectors at once: both commits race for its rows.
        let (a, b) = tokio::join!(
            collect_at(&client, &collectors[0].address, &request),
            collect_at(&client, &collectors[1].address, &request)
        );
        assert_eq!(
            (a.unwrap().status().as_u16(), b.unwrap().status().as_u16()),
            (200, 200)
        );
        requests.push(request);
    }
    let received = receiver
        .wait_for(ANSWERS + 5, Duration::from_secs(30))
        .await;
    let received = receiver
        .assert_stays_at(received.len(), Duration::from_secs(1))
        .await;
    let delivered: Vec<String> = received
        .iter()
        .skip(5)
        .map(|r| {
            r.json()["data"]["response"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut distinct: Vec<&String> = delivered.iter().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ANSWERS, "every answer was delivered");
    assert_eq!(
        received.len(),
        ANSWERS + 5,
        "and each once (five failed attempts were retried): {delivered:?}"
    );
    eprintln!(
        "two collectors on one PostgreSQL: {ANSWERS} answers sent to both at once, each delivered once"
    );
}

/// `touchstone webhook …` against the database of a running collector, which sends what the
/// commands queue.
#[tokio::test]
async fn the_webhook_commands_manage_subscriptions_that_the_collector_serves() {
    let app = spawn(TestDatabase::sqlite()).await;
    let receiver = Receiver::start().await;
    let touchstone = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_touchstone"))
            .args(args)
            .env("TOUCHSTONE_DATABASE_URL", &app.database.url)
            .env("TOUCHSTONE_LOG", "warn")
            .output()
            .expect("running touchstone")
    };
    let succeeded = |output: &std::process::Output| {
        assert!(
            output.status.success(),
            "failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let created: Value = serde_json::from_str(&succeeded(&touchstone(&[
        "webhook",
        "create",
        "--site",
        "demo",
        "--url",
        &receiver.url,
        "--category",
        "detractor",
        "--max-score",
        "5",
        "--trait",
        "plan=pro",
        "--description",
        "Support",
        "--json",
    ])))
    .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].to_string();
    assert_eq!(
        created["filters"],
        json!({ "category": "detractor", "max_score": 5, "touchpoint": null,
                "trait": { "name": "plan", "value": "pro" }, "window_days": 30 })
    );

    // The collector notices a subscription made elsewhere within its poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.collect(&visit("cus_cli", "page_view", 4))
            .await
            .status(),
        200
    );
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(signed_with(&secret, &received[0]));

    let listed = succeeded(&touchstone(&["webhook", "list", "--site", "demo"]));
    assert!(listed.starts_with("ID\tSTATE"), "{listed}");
    assert!(
        listed.contains("detractor, score <= 5, plan=pro"),
        "{listed}"
    );
    assert!(!listed.contains("whsec_"), "{listed}");

    succeeded(&touchstone(&["webhook", "test", "--site", "demo", &id]));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let deliveries = touchstone(&["webhook", "deliveries", "--site", "demo", &id, "--json"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log: Value = serde_json::from_str(&succeeded(&deliveries)).unwrap();
    while log[0]["status"] != "delivered" {
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = touchstone(&["webhook", "deliveries", "--site", "demo", &id, "--json"]);
        log = serde_json::from_str(&succeeded(&again)).unwrap();
    }
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["event_type"], "webhook.test");
    let human = succeeded(&touchstone(&[
        "webhook",
        "deliveries",
        "--site",
        "demo",
        &id,
    ]));
    assert!(human.contains("HTTP 200"), "{human}");

    succeeded(&touchstone(&["webhook", "pause", "--site", "demo", &id]));
    let listed = succeeded(&touchstone(&[
        "webhook", "list", "--site", "demo", "--json",
    ]));
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap()[0]["state"],
        "paused"
    );
    succeeded(&touchstone(&["webhook", "resume", "--site", "demo", &id]));
    let rotated = succeeded(&touchstone(&[
        "webhook",
        "rotate-secret",
        "--site",
        "demo",
        &id,
    ]));
    assert!(rotated.contains("whsec_"), "{rotated}");
    succeeded(&touchstone(&["webhook", "delete", "--site", "demo", &id]));
    let listed = succeeded(&touchstone(&[
        "webhook", "list", "--site", "demo", "--json",
    ]));
    assert_eq!(listed.trim(), "[]");

    // Bad input is refused with the reason, and nothing is stored.
    for (args, reason) in [
        (vec!["--url", "ftp://x.example/"], "must be http or https"),
        (
            vec!["--url", "https://x.example/", "--trait", "plan"],
            "NAME=VALUE",
        ),
        (
            vec!["--url", "https://x.example/", "--touchpoint", "Bad Name"],
            "touchpoint name",
        ),
        (
            vec!["--url", "https://x.example/", "--window-days", "0"],
            "`window_days` is 1 to 365",
        ),
        (
            vec!["--url", "https://x.example/", "--max-score", "11"],
            "11",
        ),
        (
            vec![
                "--url",
                "https://x.example/",
                "--category",
                "promoter",
                "--max-score",
                "3",
            ],
            "no answer can be",
        ),
    ] {
        let output = touchstone(&[&["webhook", "create", "--site", "demo"][..], &args].concat());
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
    let missing = touchstone(&["webhook", "delete", "--site", "demo", "12345"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("demo has no webhook 12345"));
    let listed = succeeded(&touchstone(&[
        "webhook", "list", "--site", "demo", "--json",
    ]));
    assert_eq!(listed.trim(), "[]");
}
