//! Surveys: the configuration the widget reads (public, cacheable, revalidated), changed over
//! the API with an admin key and from the command line; answers, showings and dismissals of
//! each survey; reports of one survey or all; and where a session came from.

use crate::helpers::*;
use crate::on_every_backend;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};
use std::process::Command;
use touchstone_server::api_key::KeyScope;

on_every_backend!(
    a_new_site_serves_the_default_survey_cacheably,
    an_admin_key_replaces_the_configuration_and_the_widget_sees_it_at_once,
    bad_configurations_are_refused_and_the_old_one_stays,
    only_an_admin_key_of_the_site_may_change_surveys,
    answers_are_counted_per_survey_and_all_together,
    showings_dismissals_and_sources_are_stored_and_exported,
    erasing_an_answer_takes_it_out_of_its_survey,
    the_cli_sets_shows_and_checks_configurations,
);

/// A configuration with two surveys and a theme.
fn two_surveys() -> Value {
    json!({
        "surveys": [
            { "id": "checkout", "targeting": { "sample": 50, "pages": ["/checkout/*"],
              "trigger": { "type": "touchpoint", "name": "checkout_completed" } },
              "texts": { "fr": { "question": "Recommanderiez-vous Acme ?" } } },
            { "id": "nps", "targeting": { "trigger": { "type": "time_on_page", "seconds": 20 } } }
        ],
        "theme": { "accent": "#0b57d0", "radius": 4, "position": "center" }
    })
}

impl TestApp {
    fn surveys_path(&self) -> String {
        format!("/v1/sites/{}/surveys", self.site)
    }

    async fn put_surveys(
        &self,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .put(format!("{}{}", self.address, self.surveys_path()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    async fn served_surveys(&self) -> Value {
        let response = self.get_as(&self.surveys_path(), None).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

async fn a_new_site_serves_the_default_survey_cacheably(app: TestApp) {
    let response = app.get_as(&app.surveys_path(), None).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[CACHE_CONTROL], "public, max-age=300");
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let etag = headers[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["surveys"][0]["id"], "nps");
    assert_eq!(
        config["surveys"][0]["targeting"]["trigger"],
        json!({ "type": "page_views", "count": 2 })
    );
    assert_eq!(
        config["surveys"][0]["targeting"]["recontact_days_after_answer"],
        90
    );
    assert_eq!(
        config["surveys"][0]["targeting"]["recontact_days_after_dismissal"],
        30
    );
    assert_eq!(config["theme"]["position"], "bottom-right");

    // Revalidation: the same tag answers 304 with no body.
    let revalidated = app
        .client
        .get(format!("{}{}", app.address, app.surveys_path()))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()[ETAG], etag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    // An unknown site, and a key that is no site key at all.
    let unknown = app.get_as("/v1/sites/nosuchsite/surveys", None).await;
    assert_eq!(error_code(unknown, 404).await, "unknown_site");
    let hostile = app.get_as("/v1/sites/%3Cscript%3E/surveys", None).await;
    assert_eq!(error_code(hostile, 404).await, "not_found");
    let wrong_method = app
        .client
        .delete(format!("{}{}", app.address, app.surveys_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong_method, 405).await, "method_not_allowed");
}

async fn an_admin_key_replaces_the_configuration_and_the_widget_sees_it_at_once(app: TestApp) {
    let before = app.get_as(&app.surveys_path(), None).await;
    let old_tag = before.headers()[ETAG].to_str().unwrap().to_owned();
    let admin = app.create_key(KeyScope::Admin).await;
    let stored = app
        .put_surveys(Some(&admin), two_surveys().to_string())
        .await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["surveys"][1]["id"], "nps");

    let response = app.get_as(&app.surveys_path(), None).await;
    assert_ne!(response.headers()[ETAG].to_str().unwrap(), old_tag);
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, stored);
    assert_eq!(served["surveys"][0]["targeting"]["sample"], 50);
    assert_eq!(
        served["surveys"][0]["targeting"]["recontact_days_after_answer"], 90,
        "defaults filled in"
    );
    assert_eq!(
        served["surveys"][0]["texts"]["fr"]["question"],
        "Recommanderiez-vous Acme ?"
    );
    assert_eq!(served["theme"]["accent"], "#0b57d0");

    // The old tag no longer revalidates; putting the same configuration again is harmless.
    let stale = app
        .client
        .get(format!("{}{}", app.address, app.surveys_path()))
        .header(IF_NONE_MATCH, &old_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(
        app.put_surveys(Some(&admin), two_surveys().to_string())
            .await
            .status(),
        200
    );
    assert_eq!(app.served_surveys().await, stored);
}

async fn bad_configurations_are_refused_and_the_old_one_stays(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    assert_eq!(
        app.put_surveys(Some(&admin), two_surveys().to_string())
            .await
            .status(),
        200
    );
    let mut duplicate = two_surveys();
    duplicate["surveys"][1]["id"] = json!("checkout");
    let mut css = two_surveys();
    css["theme"]["accent"] = json!("red;background:url(//evil.example)");
    let mut html = two_surveys();
    html["surveys"][0]["texts"]["fr"]["question"] = json!("");
    let mut sample = two_surveys();
    sample["surveys"][0]["targeting"]["sample"] = json!(101);
    let mut unknown = two_surveys();
    unknown["surveys"][0]["colour"] = json!("red");
    for (body, code) in [
        (duplicate.to_string(), "invalid_request"),
        (css.to_string(), "invalid_request"),
        (html.to_string(), "invalid_request"),
        (sample.to_string(), "invalid_request"),
        (unknown.to_string(), "invalid_request"),
        (two_surveys().to_string()[..40].to_owned(), "malformed_json"),
        ("{\"surveys\": [\u{0}]}".to_owned(), "malformed_json"),
    ] {
        let response = app.put_surveys(Some(&admin), body.clone()).await;
        assert_eq!(error_code(response, 400).await, code, "{body}");
    }
    let invalid_utf8 = app.put_surveys(Some(&admin), vec![b'{', 0xff, b'}']).await;
    assert_eq!(invalid_utf8.status(), 400);
    let huge = json!({ "surveys": [], "padding": "x".repeat(70_000) }).to_string();
    let too_large = app.put_surveys(Some(&admin), huge).await;
    assert_eq!(error_code(too_large, 413).await, "payload_too_large");
    let not_json = app
        .client
        .put(format!("{}{}", app.address, app.surveys_path()))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(two_surveys().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_json, 415).await, "unsupported_media_type");
    let served = app.served_surveys().await;
    assert_eq!(
        served["surveys"][0]["id"], "checkout",
        "nothing half-stored"
    );
    assert_eq!(served["theme"]["accent"], "#0b57d0");
}

async fn only_an_admin_key_of_the_site_may_change_surveys(app: TestApp) {
    let body = two_surveys().to_string();
    let anonymous = app.put_surveys(None, body.clone()).await;
    assert_eq!(error_code(anonymous, 401).await, "unauthorized");
    let read = app.put_surveys(Some(&app.api_key), body.clone()).await;
    assert_eq!(error_code(read, 403).await, "forbidden");
    app.create_site("other").await;
    let other_admin = app.create_key_for("other", KeyScope::Admin).await;
    let other = app.put_surveys(Some(&other_admin), body).await;
    assert_eq!(error_code(other, 401).await, "unauthorized");
    assert_eq!(
        app.served_surveys().await["surveys"][0]["id"],
        "nps",
        "unchanged"
    );
}

/// An answer to `survey`.
fn answer(survey: &str, score: u8, at: i64) -> Value {
    let mut event = response(score, at);
    event["survey"] = json!(survey);
    event
}

async fn answers_are_counted_per_survey_and_all_together(app: TestApp) {
    let at = noon();
    // Old widgets name no survey: their answers belong to `nps`.
    let request = batch(vec![
        response(10, at),
        answer("nps", 9, at + 1),
        answer("checkout", 0, at + 2),
        answer("checkout", 8, at + 3),
    ]);
    assert_eq!(app.collect(&request).await.status(), 200);
    // Stored through the store too, so hours long past come from the rollups.
    let past = noon_days_ago(40);
    app.store_directly(vec![answer("checkout", 3, past), response(9, past + HOUR)])
        .await;

    let all = app.nps("").await;
    assert_eq!(
        (
            all["promoters"].as_u64(),
            all["passives"].as_u64(),
            all["detractors"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(all["survey"], Value::Null);
    let checkout = app.nps("?survey=checkout").await;
    assert_eq!(checkout["survey"], "checkout");
    assert_eq!(
        (
            checkout["promoters"].as_u64(),
            checkout["passives"].as_u64(),
            checkout["detractors"].as_u64()
        ),
        (Some(0), Some(1), Some(2))
    );
    let nps = app.nps("?survey=nps").await;
    assert_eq!(nps["responses"], 3);
    assert_eq!(app.nps("?survey=never_asked").await["responses"], 0);

    // The trend, over whole days (rollups) and in a zone whose days start off the hour (raw rows).
    for tz in ["UTC", "Asia/Kolkata"] {
        let path = format!(
            "/v1/sites/{}/nps/trend?from={}&survey=checkout&tz={tz}",
            app.site,
            date_of(past - 2 * DAY)
        );
        let response = app.get_with_key(&path).await;
        assert_eq!(response.status(), 200);
        let trend: Value = response.json().await.unwrap();
        assert_eq!(trend["survey"], "checkout");
        let total: u64 = trend["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| point["responses"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 3, "{tz}");
    }
    let bad = app
        .get_with_key(&format!(
            "/v1/sites/{}/nps?survey=Not%20A%20Survey",
            app.site
        ))
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_parameter");
}

async fn showings_dismissals_and_sources_are_stored_and_exported(app: TestApp) {
    let at = noon();
    let visitor = event_id();
    let mut first = touchpoint("page_view", at);
    first["referrer"] = json!("https://news.example/story?id=42");
    first["utm"] = json!({ "source": "newsletter", "medium": "email", "campaign": "spring" });
    let mut answered = answer("checkout", 6, at + 3);
    answered["language"] = json!("fr-CA");
    answered["device"] = json!("mobile");
    let request = json!({ "site": "demo", "visitor": visitor, "events": [
        first,
        { "type": "shown", "id": event_id(), "at": at + 1, "survey": "checkout" },
        { "type": "dismissal", "id": event_id(), "at": at + 2, "survey": "nps" },
        answered,
    ]});
    let stored = app.collect(&request).await;
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.json::<Value>().await.unwrap()["accepted"], 4);
    // Replayed: stored once.
    let replay: Value = app.collect(&request).await.json().await.unwrap();
    assert_eq!(replay["duplicates"], 4);
    assert_eq!(
        app.nps("").await["responses"],
        1,
        "showings and dismissals are not answers"
    );

    let admin = app.create_key(KeyScope::Admin).await;
    let export: Value = app
        .client
        .post(format!(
            "{}/v1/sites/{}/privacy/export",
            app.address, app.site
        ))
        .bearer_auth(&admin)
        .json(&json!({ "visitor": visitor }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = export["events"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["touchpoint", "shown", "dismissal", "response"]);
    assert_eq!(
        events[0]["referrer"], "https://news.example/story",
        "no query string is kept"
    );
    assert_eq!(events[0]["utm_source"], "newsletter");
    assert_eq!(events[0]["utm_campaign"], "spring");
    assert_eq!(events[1]["survey"], "checkout");
    assert_eq!(events[2]["survey"], "nps");
    assert_eq!(events[3]["language"], "fr");
    assert_eq!(events[3]["device"], "mobile");

    // Hostile context is refused whole, and nothing of the batch is stored.
    let mut hostile = touchpoint("page_view", at);
    hostile["referrer"] = json!("javascript:alert(1)");
    let refused = app.collect(&batch(vec![response(9, at), hostile])).await;
    assert_eq!(error_code(refused, 400).await, "invalid_request");
    let unknown_kind = app
        .collect(&batch(vec![
            json!({ "type": "shown", "id": event_id(), "at": at }),
        ]))
        .await;
    assert_eq!(error_code(unknown_kind, 400).await, "invalid_request");
    assert_eq!(app.nps("").await["responses"], 1);
}

async fn erasing_an_answer_takes_it_out_of_its_survey(app: TestApp) {
    let past = noon_days_ago(40);
    app.store_directly(vec![answer("checkout", 2, past), answer("nps", 10, past)])
        .await;
    let visitor = event_id();
    let request =
        json!({ "site": "demo", "visitor": visitor, "events": [answer("checkout", 0, past)] });
    // Through the store, so the answer's long-past hour is read from the rollups.
    let store = touchstone_server::store::connect(&app.database.url)
        .await
        .unwrap();
    let site = store.site(&app.site).await.unwrap().unwrap();
    store
        .store_batches(&[touchstone_server::store::IncomingBatch {
            site_id: site.id,
            visitor: serde_json::from_value(request["visitor"].clone()).unwrap(),
            events: serde_json::from_value(request["events"].clone()).unwrap(),
            received_at: 0,
            watched: false,
        }])
        .await
        .unwrap();
    assert_eq!(app.nps("?survey=checkout").await["detractors"], 2);
    let admin = app.create_key(KeyScope::Admin).await;
    let erased = app
        .client
        .post(format!(
            "{}/v1/sites/{}/privacy/erase",
            app.address, app.site
        ))
        .bearer_auth(&admin)
        .json(&json!({ "visitor": visitor }))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    assert_eq!(app.nps("?survey=checkout").await["detractors"], 1);
    assert_eq!(
        app.nps("?survey=nps").await["promoters"],
        1,
        "other surveys keep theirs"
    );
}

async fn the_cli_sets_shows_and_checks_configurations(app: TestApp) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("survey.toml");
    std::fs::write(
        &file,
        r##"
        [[surveys]]
        id = "checkout"
        [surveys.targeting]
        sample = 25
        trigger = { type = "touchpoint", name = "checkout_completed" }
        [surveys.texts.de]
        question = "Wie wahrscheinlich ist es, dass Sie Acme empfehlen?"

        [theme]
        accent = "#123"
        "##,
    )
    .unwrap();
    let touchstone = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_touchstone"))
            .args(args)
            .env("TOUCHSTONE_DATABASE_URL", &app.database.url)
            .env("TOUCHSTONE_LOG", "warn")
            .output()
            .unwrap()
    };
    let file = file.to_str().unwrap();
    let checked = touchstone(&["survey", "check", "--file", file]);
    assert!(checked.status.success());
    let said = String::from_utf8(checked.stdout).unwrap();
    assert!(
        said.contains("checkout: 25% of visitors, once a visitor reaches checkout_completed"),
        "{said}"
    );
    assert_eq!(
        app.served_surveys().await["surveys"][0]["id"],
        "nps",
        "check stores nothing"
    );

    let set = touchstone(&["survey", "set", "--site", "demo", "--file", file]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let served = app.served_surveys().await;
    assert_eq!(
        served["surveys"][0]["id"], "checkout",
        "served at once, no restart"
    );
    assert_eq!(served["theme"]["accent"], "#123");

    let shown = touchstone(&["survey", "show", "--site", "demo", "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown, served);
    let toml = touchstone(&["survey", "show", "--site", "demo"]);
    let toml = String::from_utf8(toml.stdout).unwrap();
    assert!(
        toml.contains("[[surveys]]") && toml.contains("checkout_completed"),
        "{toml}"
    );
    // What `show` prints can be set again as it is.
    let again = folder.path().join("again.toml");
    std::fs::write(&again, &toml).unwrap();
    assert!(
        touchstone(&[
            "survey",
            "set",
            "--site",
            "demo",
            "--file",
            again.to_str().unwrap()
        ])
        .status
        .success()
    );
    assert_eq!(app.served_surveys().await, served);

    // Mistakes name the file and the line; nothing is stored.
    let broken = folder.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[[surveys]]\nid = \"nps\"\n[surveys.targeting]\ntrigger = { type = \"hourly\" }\n",
    )
    .unwrap();
    let refused = touchstone(&[
        "survey",
        "set",
        "--site",
        "demo",
        "--file",
        broken.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let error = String::from_utf8(refused.stderr).unwrap();
    assert!(
        error.contains("broken.toml") && error.contains("line 4"),
        "{error}"
    );
    let missing = touchstone(&["survey", "set", "--site", "nosuch", "--file", file]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nosuch"));
    assert_eq!(app.served_surveys().await, served);
}

/// A database that holds answers from before surveys existed (migrations 1 to 3 only), then
/// opened by this collector: its answers belong to `nps`, its rollups still count them.
async fn answers_from_before_surveys_belong_to_the_default_survey(database: TestDatabase) {
    let (old_hour, recent) = (noon_days_ago(40) / HOUR * HOUR, noon_days_ago(40) + 60_000);
    let statements = [
        // The site gets id 1 as the first row of a fresh table on both backends.
        "INSERT INTO sites (key, name, created_at) VALUES ('demo', 'Demo', 0)".to_owned(),
        format!(
            "INSERT INTO events (site_id, event_id, visitor_id, kind, occurred_at, received_at, score) \
             VALUES (1, {}, {}, 'response', {recent}, 0, 10)",
            database.uuid_literal(1),
            database.uuid_literal(2)
        ),
        format!(
            "INSERT INTO nps_rollup (site_id, hour, promoters, passives, detractors) VALUES (1, {old_hour}, 1, 0, 0)"
        ),
    ];
    database.migrate_before("0004", &statements).await;

    let store = touchstone_server::store::connect(&database.url)
        .await
        .expect("migrating to surveys");
    let site = store
        .site(&touchstone_shared::SiteKey::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();
    let nps = touchstone_shared::SurveyId::default();
    let scope = touchstone_server::store::AnswerScope {
        site: &site,
        survey: Some(&nps),
    };
    let range = touchstone_server::store::TimeRange {
        from: 0,
        to: i64::MAX / 2,
    };
    let tally = store.tally(scope, range).await.unwrap();
    assert_eq!(tally.promoters, 1, "the rollup row belongs to nps");
    let export = store
        .held_events(
            &site,
            &touchstone_server::store::Subject::Visitor(
                serde_json::from_value(json!(uuid::Uuid::from_u128(2))).unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        export[0].survey.as_deref(),
        Some("nps"),
        "the raw answer belongs to nps"
    );
}

#[tokio::test]
async fn sqlite_answers_from_before_surveys_belong_to_the_default_survey() {
    answers_from_before_surveys_belong_to_the_default_survey(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn postgres_answers_from_before_surveys_belong_to_the_default_survey() {
    if let Some(database) = TestDatabase::postgres().await {
        answers_from_before_surveys_belong_to_the_default_survey(database).await;
    }
}
