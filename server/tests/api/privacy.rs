//! Privacy requests: exporting and erasing everything held about a visitor or a customer,
//! who may do it, and what bad requests get.

use crate::helpers::*;
use crate::on_every_backend;
use serde_json::{Value, json};
use touchstone_server::api_key::KeyScope;

on_every_backend!(
    an_export_holds_everything_a_visitor_sent_and_nothing_of_others,
    an_export_by_customer_gathers_every_visitor_identified_as_them,
    an_erasure_removes_the_events_and_their_share_of_the_reports,
    privacy_requests_need_an_admin_key_of_that_very_site,
    a_shared_browser_keeps_other_customers_identities_out_of_an_export_and_an_erasure,
    privacy_requests_refuse_bad_bodies,
    a_revoked_key_is_refused_at_once,
);

fn from_visitor(visitor: &str, events: Vec<Value>) -> Value {
    json!({ "site": "demo", "visitor": visitor, "events": events })
}

async fn store(app: &TestApp, request: Value) {
    let response = app.collect(&request).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

impl TestApp {
    async fn privacy(&self, action: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!(
                "{}/v1/sites/{}/privacy/{action}",
                self.address, self.site
            ))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("posting a privacy request")
    }

    async fn export(&self, body: &Value) -> Value {
        let admin = self.create_key(KeyScope::Admin).await;
        let response = self.privacy("export", &admin, body).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

async fn an_export_holds_everything_a_visitor_sent_and_nothing_of_others(app: TestApp) {
    let (anna, other) = (event_id(), event_id());
    let answer = json!({ "type": "response", "id": event_id(), "at": noon(), "score": 3,
                         "comment": "The <b>checkout</b> failed twice" });
    store(
        &app,
        from_visitor(
            &anna,
            vec![
                touchpoint("support_contact", noon() - 1000),
                answer.clone(),
                identify("anna@example.com", noon() + 1000),
            ],
        ),
    )
    .await;
    store(&app, from_visitor(&other, vec![response(10, noon())])).await;

    let export = app.export(&json!({ "visitor": anna })).await;
    assert_eq!(export["site"], "demo");
    assert_eq!(export["visitors"], json!([anna]));
    let events = export["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{export}");
    assert_eq!(events[0]["type"], "touchpoint");
    assert_eq!(events[0]["name"], "support_contact");
    assert_eq!(events[1]["id"], answer["id"]);
    assert_eq!(events[1]["score"], 3);
    assert_eq!(events[1]["comment"], "The <b>checkout</b> failed twice");
    assert_eq!(events[2]["customer"], "anna@example.com");
    assert_eq!(
        events[2]["traits"],
        json!({ "account": "acme", "plan": "pro" })
    );
    assert!(events.iter().all(|event| event["visitor"] == anna));

    let nobody = app.export(&json!({ "visitor": event_id() })).await;
    assert_eq!(nobody["visitors"], json!([]));
    assert_eq!(nobody["events"], json!([]));
}

async fn an_export_by_customer_gathers_every_visitor_identified_as_them(app: TestApp) {
    let mut phone_and_laptop = [event_id(), event_id()];
    phone_and_laptop.sort();
    for visitor in &phone_and_laptop {
        store(
            &app,
            from_visitor(
                visitor,
                vec![identify("cus_42", noon()), response(8, noon())],
            ),
        )
        .await;
    }
    store(
        &app,
        from_visitor(
            &event_id(),
            vec![identify("cus_43", noon()), response(1, noon())],
        ),
    )
    .await;

    let export = app.export(&json!({ "customer": " cus_42 " })).await;
    assert_eq!(export["visitors"], json!(phone_and_laptop));
    assert_eq!(export["events"].as_array().unwrap().len(), 4);
}

async fn an_erasure_removes_the_events_and_their_share_of_the_reports(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let (keeper, leaver) = (event_id(), event_id());
    // Answers on whole hours (read from the rollups) and inside a partial hour (read from the
    // raw rows) must both lose the erased visitor.
    let early = noon_days_ago(3);
    store(
        &app,
        from_visitor(
            &keeper,
            vec![touchpoint("page_view", early), response(10, early)],
        ),
    )
    .await;
    store(
        &app,
        from_visitor(
            &leaver,
            vec![
                touchpoint("page_view", early),
                touchpoint("support_contact", early + 60_000),
                response(2, early + 60_000),
                identify("cus_9", early + 60_000),
                response(0, noon()),
            ],
        ),
    )
    .await;
    let before = app.nps("").await;
    assert_eq!(before["responses"], 3);
    let partial = format!(
        "?from={}&to={}",
        rfc3339(early - 30 * 60_000),
        rfc3339(early + 30 * 60_000)
    );
    assert_eq!(app.nps(&partial).await["detractors"], 1);

    let response = app
        .privacy("erase", &admin, &json!({ "customer": "cus_9" }))
        .await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(
        receipt,
        json!({ "site": "demo", "erased": { "visitors": 1, "events": 5, "responses": 2, "revenue": 0 } })
    );

    let after = app.nps("").await;
    assert_eq!(
        (
            after["responses"].clone(),
            after["promoters"].clone(),
            after["nps"].clone()
        ),
        (json!(1), json!(1), json!(100.0))
    );
    assert_eq!(app.nps(&partial).await["detractors"], 0);
    assert_eq!(
        app.touchpoints().await,
        json!([{ "name": "page_view", "count": 1 }])
    );
    assert_eq!(
        app.export(&json!({ "visitor": leaver })).await["events"],
        json!([])
    );
    assert_eq!(
        app.export(&json!({ "visitor": keeper })).await["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Erasing again finds nothing, and says so.
    let again: Value = app
        .privacy("erase", &admin, &json!({ "visitor": leaver }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["erased"],
        json!({ "visitors": 0, "events": 0, "responses": 0, "revenue": 0 })
    );
}

async fn privacy_requests_need_an_admin_key_of_that_very_site(app: TestApp) {
    let visitor = event_id();
    store(&app, from_visitor(&visitor, vec![response(5, noon())])).await;
    let subject = json!({ "visitor": visitor });

    // A report reader's key sees no comments and erases nothing.
    let read_key = app.api_key.clone();
    for action in ["erase", "export"] {
        let code = error_code(app.privacy(action, &read_key, &subject).await, 403).await;
        assert_eq!(code, "forbidden", "{action}");
        let code = error_code(app.privacy(action, "tsk_wrong", &subject).await, 401).await;
        assert_eq!(code, "unauthorized", "{action}");
    }

    let (_, other_site_key) = app.create_site("other").await;
    let other_admin = app.create_key_for("other", KeyScope::Admin).await;
    for key in [other_site_key, other_admin] {
        for action in ["erase", "export"] {
            let code = error_code(app.privacy(action, &key, &subject).await, 401).await;
            assert_eq!(code, "unauthorized", "{action}");
        }
    }
    assert_eq!(app.nps("").await["responses"], 1, "nothing was erased");
}

async fn a_shared_browser_keeps_other_customers_identities_out_of_an_export_and_an_erasure(
    app: TestApp,
) {
    let admin = app.create_key(KeyScope::Admin).await;
    // One family computer: Anna and then Ben sign in on it; Ben also uses his own phone.
    let (family, bens_phone) = (event_id(), event_id());
    let anna_signs_in = identify("anna@example.com", noon());
    let ben_signs_in = identify("ben@example.com", noon() + 60_000);
    store(
        &app,
        from_visitor(
            &family,
            vec![
                anna_signs_in.clone(),
                response(9, noon()),
                ben_signs_in.clone(),
            ],
        ),
    )
    .await;
    store(
        &app,
        from_visitor(
            &bens_phone,
            vec![identify("ben@example.com", noon()), response(3, noon())],
        ),
    )
    .await;

    let annas = app.export(&json!({ "customer": "anna@example.com" })).await;
    let ids: Vec<&Value> = annas["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| &event["id"])
        .collect();
    assert_eq!(annas["visitors"], json!([family]));
    assert!(ids.contains(&&anna_signs_in["id"]));
    assert!(
        !ids.contains(&&ben_signs_in["id"]),
        "Ben's identity is not Anna's to see: {annas}"
    );
    assert!(!annas.to_string().contains("ben@example.com"));

    let receipt: Value = app
        .privacy("erase", &admin, &json!({ "customer": "anna@example.com" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        receipt["erased"],
        json!({ "visitors": 1, "events": 2, "responses": 1, "revenue": 0 })
    );
    // Ben keeps his identity on the family computer and everything on his phone.
    let bens = app.export(&json!({ "customer": "ben@example.com" })).await;
    let mut visitors = [family.clone(), bens_phone.clone()];
    visitors.sort();
    assert_eq!(bens["visitors"], json!(visitors));
    assert_eq!(bens["events"].as_array().unwrap().len(), 3, "{bens}");
    assert_eq!(app.nps("").await["responses"], 1);
}

async fn privacy_requests_refuse_bad_bodies(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let url = format!("{}/v1/sites/{}/privacy/erase", app.address, app.site);
    let post = |body: String, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: [(String, &str, u16, &str); 8] = [
        ("{".into(), "application/json", 400, "malformed_json"),
        ("".into(), "application/json", 400, "malformed_json"),
        (
            json!({ "visitor": event_id(), "customer": "c" }).to_string(),
            "application/json",
            400,
            "invalid_request",
        ),
        (
            json!({ "visitor": "not-a-uuid" }).to_string(),
            "application/json",
            400,
            "invalid_request",
        ),
        (
            json!({ "customer": "" }).to_string(),
            "application/json",
            400,
            "invalid_request",
        ),
        (
            json!({ "email": "a@b.c" }).to_string(),
            "application/json",
            400,
            "invalid_request",
        ),
        (
            json!({ "customer": "x".repeat(10_000) }).to_string(),
            "application/json",
            413,
            "payload_too_large",
        ),
        (
            json!({ "customer": "c" }).to_string(),
            "text/csv",
            415,
            "unsupported_media_type",
        ),
    ];
    for (body, content_type, status, expected) in cases {
        let response = post(body.clone(), content_type).await.unwrap();
        let code = error_code(response, status).await;
        assert_eq!(code, expected, "{body}");
    }
}

async fn a_revoked_key_is_refused_at_once(app: TestApp) {
    let path = format!("/v1/sites/{}/nps", app.site);
    assert_eq!(app.get_with_key(&path).await.status(), 200);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .args(["key", "revoke", "--site", "demo", &app.api_key])
        .env("TOUCHSTONE_DATABASE_URL", &app.database.url)
        .env("TOUCHSTONE_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let code = error_code(app.get_with_key(&path).await, 401).await;
    assert_eq!(code, "unauthorized");
}

/// `millis` as an RFC 3339 instant.
fn rfc3339(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .unwrap()
        .to_string()
}
