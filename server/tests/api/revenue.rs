//! Revenue: imported per customer (JSON and CSV), exactly, once, all or nothing; the report of
//! what the NPS is worth on a data set computed by hand; currencies never mixed; privacy
//! requests covering a customer's revenue.

use crate::helpers::*;
use crate::on_every_backend;
use serde_json::{Value, json};
use touchstone_server::api_key::KeyScope;
use touchstone_server::import::MAX_IMPORT_BYTES;

on_every_backend!(
    the_report_adds_up_a_data_set_computed_by_hand,
    a_site_with_one_currency_or_none_needs_no_currency_parameter,
    posting_the_same_revenue_again_stores_nothing,
    a_bad_revenue_row_is_named_and_nothing_is_stored,
    malformed_oversized_and_hostile_revenue_is_refused,
    only_an_admin_key_may_import_revenue,
    export_and_erasure_cover_a_customers_revenue,
);

/// Milliseconds since the epoch of an RFC 3339 instant.
fn at(instant: &str) -> i64 {
    instant.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

impl TestApp {
    /// Posts revenue rows as `content_type` with `key`.
    async fn post_revenue(
        &self,
        key: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.post_as(
            &format!("/v1/sites/{}/revenue", self.site),
            Some(key),
            content_type,
            body,
        )
        .await
    }

    /// Posts a JSON array of revenue rows with `key`, asserting a `200`; returns the receipt.
    async fn import_revenue(&self, key: &str, rows: &Value) -> Value {
        let response = self
            .post_revenue(key, "application/json", rows.to_string())
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `GET /nps/revenue{query}` with the read key.
    async fn revenue_report(&self, query: &str) -> reqwest::Response {
        self.get_with_key(&format!("/v1/sites/{}/nps/revenue{query}", self.site))
            .await
    }

    /// The revenue report for `query`, asserting a `200`.
    async fn revenue(&self, query: &str) -> Value {
        let response = self.revenue_report(query).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A privacy request with `key`, asserting a `200`.
    async fn privacy_request(&self, action: &str, key: &str, subject: &Value) -> Value {
        let response = self
            .post_as(
                &format!("/v1/sites/{}/privacy/{action}", self.site),
                Some(key),
                "application/json",
                subject.to_string(),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

fn row(customer: &str, amount: Value, currency: &str, date: &str) -> Value {
    json!({ "customer": customer, "amount": amount, "currency": currency, "date": date })
}

/// June 2025: five customers answered (Anna and Eve promoters, Cleo passive, Ben and Dan
/// detractors), an anonymous visitor too, Gus only in May; revenue in EUR and JPY in and out
/// of June, and Fay paid without answering.
async fn hand_built(app: &TestApp, admin: &str) {
    app.store_visits(vec![
        vec![
            identify("anna", at("2025-06-02T10:00:00Z")),
            response(10, at("2025-06-02T10:05:00Z")),
            // After June: her latest answer of all time, not of June.
            response(0, at("2025-07-05T10:00:00Z")),
        ],
        vec![
            identify("ben", at("2025-06-03T10:00:00Z")),
            response(9, at("2025-06-03T10:05:00Z")),
            // His latest answer in June decides: a detractor.
            response(3, at("2025-06-20T10:00:00Z")),
        ],
        vec![
            identify("cleo", at("2025-06-05T09:00:00Z")),
            response(7, at("2025-06-05T10:00:00Z")),
        ],
        vec![
            identify("dan", at("2025-06-06T09:00:00Z")),
            response(2, at("2025-06-06T10:00:00Z")),
        ],
        vec![response(10, at("2025-06-07T10:00:00Z"))],
        vec![
            identify("gus", at("2025-05-15T09:00:00Z")),
            response(10, at("2025-05-15T10:00:00Z")),
        ],
    ])
    .await;
    // Eve's answer comes from a history import: it joins her revenue just the same.
    let imported = app
        .post_as(
            &format!("/v1/sites/{}/imports/responses", app.site),
            Some(admin),
            "text/csv",
            "Customer ID,Score,Date\neve,9,2025-06-08 12:00:00\n",
        )
        .await;
    assert_eq!(imported.status(), 200);
    app.import_revenue(
        admin,
        &json!([
            row("anna", json!("100.00"), "EUR", "2025-06-10"),
            row("anna", json!("23.45"), "EUR", "2025-06-11T08:00:00Z"),
            row("anna", json!("10"), "EUR", "2025-07-10"),
            row("anna", json!(5000), "JPY", "2025-06-10"),
            row("ben", json!(50), "EUR", "2025-06-12"),
            row("ben", json!("-10.00"), "eur", "2025-06-13"),
            row("cleo", json!("30"), "EUR", "2025-06-14"),
            row("eve", json!(12.5), "EUR", "2025-06-15 09:00:00"),
            row("fay", json!("999.99"), "EUR", "2025-06-15"),
            row("gus", json!("70"), "EUR", "2025-06-16"),
        ]),
    )
    .await;
}

async fn the_report_adds_up_a_data_set_computed_by_hand(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    hand_built(&app, &admin).await;

    // Promoters: Anna 100.00 + 23.45 and Eve 12.50 = 135.95; passives: Cleo 30.00;
    // detractors: Ben 50.00 − 10.00 and Dan nothing = 40.00; 205.95 in all.
    // Weighted: (13595 − 4000) / 20595 × 100 = 46.588…; promoters' share 13595 / 20595.
    let june = app
        .revenue("?from=2025-06-01&to=2025-06-30&currency=EUR")
        .await;
    let weighted = june["revenue_weighted_nps"].as_f64().unwrap();
    let share = june["promoter_revenue_share"].as_f64().unwrap();
    assert!((weighted - 9595.0 / 20595.0 * 100.0).abs() < 1e-9, "{june}");
    assert!((weighted - 46.5890).abs() < 1e-3);
    assert!((share - 13595.0 / 20595.0).abs() < 1e-12, "{june}");
    // Its interval, each customer weighted by revenue (cents): with m = 0.465890,
    // Σ w²(x − m)² = (12345² + 1250²)(1 − m)² + 3000² m² + 4000² (1 + m)² (Dan weighs 0);
    // divided by 20595² and rooted, times 1.959964: a margin of 85.256 points, so
    // −38.667 to 100 (clipped). Kish: 20595² / Σ w² = 2.37 effective customers: small.
    let interval = june["revenue_weighted_confidence_interval"].clone();
    assert!(
        (interval["low"].as_f64().unwrap() + 38.667_032).abs() < 1e-5,
        "{june}"
    );
    assert_eq!(interval["high"], 100.0);
    assert_eq!(
        june["revenue_weighted_small_sample"], true,
        "five customers, two of them most of the money"
    );
    assert_eq!(
        june,
        json!({
            "currency": "EUR",
            "currencies": ["EUR", "JPY"],
            "customers": { "promoters": 2, "passives": 1, "detractors": 2, "total": 5 },
            "revenue": { "promoters": "135.95", "passives": "30.00", "detractors": "40.00", "total": "205.95" },
            "revenue_weighted_nps": weighted,
            "revenue_weighted_confidence_interval": interval,
            "revenue_weighted_small_sample": true,
            "revenue_at_risk": "40.00",
            "promoter_revenue_share": share,
        })
    );

    // The same customers in yen: only Anna paid in yen.
    let yen = app
        .revenue("?from=2025-06-01&to=2025-06-30&currency=jpy")
        .await;
    assert_eq!(yen["currency"], "JPY");
    assert_eq!(yen["customers"]["total"], 5);
    assert_eq!(
        yen["revenue"],
        json!({ "promoters": "5000", "passives": "0", "detractors": "0", "total": "5000" })
    );
    assert_eq!(yen["revenue_weighted_nps"], 100.0);
    assert_eq!(yen["promoter_revenue_share"], 1.0);

    // All time: Anna's latest answer (0, in July) makes her a detractor with all her euros;
    // Gus's May answer counts him. Promoters Eve 12.50 + Gus 70.00; detractors Anna 133.45 +
    // Ben 40.00.
    let all_time = app.revenue("?currency=EUR").await;
    assert_eq!(
        all_time["customers"],
        json!({ "promoters": 2, "passives": 1, "detractors": 3, "total": 6 })
    );
    assert_eq!(
        all_time["revenue"],
        json!({ "promoters": "82.50", "passives": "30.00", "detractors": "173.45", "total": "285.95" })
    );
    assert_eq!(all_time["revenue_at_risk"], "173.45");

    // A currency with no revenue: the customers, and no weighted score.
    let dollars = app
        .revenue("?from=2025-06-01&to=2025-06-30&currency=USD")
        .await;
    assert_eq!(dollars["customers"]["total"], 5);
    assert_eq!(dollars["revenue"]["total"], "0.00");
    assert_eq!(dollars["revenue_weighted_nps"], Value::Null);
    assert_eq!(dollars["promoter_revenue_share"], Value::Null);

    // One survey's answers only.
    let other = app.revenue("?currency=EUR&survey=checkout").await;
    assert_eq!(other["customers"]["total"], 0);

    // Two currencies are never added up: the report asks which.
    let response = app.revenue_report("?from=2025-06-01").await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["code"], "currency_required");
    assert_eq!(body["currencies"], json!(["EUR", "JPY"]));
    assert!(
        body["message"].as_str().unwrap().contains("EUR, JPY"),
        "{body}"
    );
    for query in [
        "?currency=EURO",
        "?currency=",
        "?currency=XAU",
        "?from=June",
    ] {
        let response = app.revenue_report(query).await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{query}"
        );
    }
}

async fn a_site_with_one_currency_or_none_needs_no_currency_parameter(app: TestApp) {
    assert_eq!(
        app.revenue("").await,
        json!({
            "currency": null,
            "currencies": [],
            "customers": { "promoters": 0, "passives": 0, "detractors": 0, "total": 0 },
            "revenue": { "promoters": "0", "passives": "0", "detractors": "0", "total": "0" },
            "revenue_weighted_nps": null,
            "revenue_weighted_confidence_interval": null,
            "revenue_weighted_small_sample": true,
            "revenue_at_risk": "0",
            "promoter_revenue_share": null,
        })
    );
    let admin = app.create_key(KeyScope::Admin).await;
    app.store_visits(vec![vec![
        identify("anna", at("2025-06-02T10:00:00Z")),
        response(6, at("2025-06-02T10:05:00Z")),
    ]])
    .await;
    app.import_revenue(
        &admin,
        &json!([row("anna", json!("1.5"), "BHD", "2025-06-02")]),
    )
    .await;
    let report = app.revenue("").await;
    assert_eq!(report["currency"], "BHD");
    assert_eq!(report["revenue"]["detractors"], "1.500");
    assert_eq!(report["revenue_at_risk"], "1.500");
    assert_eq!(report["revenue_weighted_nps"], -100.0);
}

async fn posting_the_same_revenue_again_stores_nothing(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    app.store_visits(vec![vec![
        identify("anna", at("2025-06-02T10:00:00Z")),
        response(10, at("2025-06-02T10:05:00Z")),
    ]])
    .await;
    let rows = json!([
        row("anna", json!("10.00"), "EUR", "2025-06-10"),
        row("anna", json!("5.00"), "EUR", "2025-06-11"),
        // The same row twice in one request is one row.
        row("anna", json!("5.00"), "EUR", "2025-06-11"),
    ]);
    let first = app.import_revenue(&admin, &rows).await;
    assert_eq!(
        (
            &first["rows"],
            &first["imported"],
            &first["already_present"]
        ),
        (&json!(3), &json!(2), &json!(1))
    );
    assert_eq!(first["customers"], 1);
    assert_eq!(first["currencies"], json!(["EUR"]));
    assert_eq!(first["from"], "2025-06-10T00:00:00Z");
    let again = app.import_revenue(&admin, &rows).await;
    assert_eq!(
        (&again["imported"], &again["already_present"]),
        (&json!(0), &json!(3))
    );
    // The same values as CSV, written otherwise, are the same rows.
    let csv =
        "Customer,Amount,Currency,Date\nanna,10,EUR,2025-06-10\nanna,5,eur,2025-06-11 00:00:00\n";
    let response = app.post_revenue(&admin, "text/csv", csv).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["imported"], 0);
    assert_eq!(app.revenue("").await["revenue"]["total"], "15.00");

    // With the client's ids, an id names the row: a second amount under it changes nothing,
    // and two equal payments under two ids are two rows.
    let with_ids = json!([
        { "id": "INV-1", "customer": "anna", "amount": "7.00", "currency": "EUR", "date": "2025-06-12" },
        { "id": "INV-2", "customer": "anna", "amount": "7.00", "currency": "EUR", "date": "2025-06-12" },
    ]);
    assert_eq!(app.import_revenue(&admin, &with_ids).await["imported"], 2);
    let changed = json!([{ "id": "INV-1", "customer": "anna", "amount": "700.00", "currency": "EUR", "date": "2025-06-12" }]);
    assert_eq!(
        app.import_revenue(&admin, &changed).await["already_present"],
        1
    );
    assert_eq!(app.revenue("").await["revenue"]["total"], "29.00");
}

async fn a_bad_revenue_row_is_named_and_nothing_is_stored(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let rows = json!([
        row("anna", json!("10.00"), "EUR", "2025-06-10"),
        row("ben", json!("12.345"), "EUR", "2025-06-10"),
        row("cleo", json!("10.5"), "JPY", "2025-06-10"),
        row("dan", json!("1"), "ABC", "2025-06-10"),
    ]);
    let response = app
        .post_revenue(&admin, "application/json", rows.to_string())
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_import");
    assert_eq!(body["problem_count"], 3);
    assert_eq!(
        body["problems"],
        json!([
            { "index": 1, "column": "amount", "message": "EUR has 2 decimals; 12.345 has more" },
            { "index": 2, "column": "amount", "message": "JPY has 0 decimals; 10.5 has more" },
            { "index": 3, "column": "currency", "message": "\"ABC\" is not an ISO 4217 currency code (such as EUR, USD, JPY)" },
        ])
    );
    assert_eq!(
        app.revenue("").await["currencies"],
        json!([]),
        "not even Anna's row"
    );

    // In CSV, by line and column.
    let csv = "customer,amount,currency,date\nanna,10,EUR,2025-06-10\nben,10,EUR,someday\n";
    let response = app
        .post_revenue(&admin, "text/csv; charset=utf-8", csv)
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_import");
    assert_eq!(body["problems"][0]["line"], 3);
    assert_eq!(body["problems"][0]["row"], 2);
    assert_eq!(body["problems"][0]["column"], "date");
    assert_eq!(app.revenue("").await["currencies"], json!([]));
}

async fn malformed_oversized_and_hostile_revenue_is_refused(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let one = |field: &str, value: Value| {
        let mut row = row("anna", json!("1.00"), "EUR", "2025-06-10");
        row[field] = value;
        json!([row]).to_string()
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "[{".into(), 400, "malformed_json"),
        ("application/json", "".into(), 400, "malformed_json"),
        (
            "application/json",
            "\u{feff}[]".into(),
            400,
            "malformed_json",
        ),
        (
            "application/json",
            r#"[{"amount": 1e400}]"#.into(),
            400,
            "malformed_json",
        ),
        ("application/json", "{}".into(), 400, "invalid_import"),
        ("application/json", "[]".into(), 400, "invalid_import"),
        (
            "application/json",
            "[1, null]".into(),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("1e3")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!(1.005)),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("NaN")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("١٢")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("€1.00")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("1,000.00")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("99999999999999999999")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!(true)),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("amount", json!("")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("customer", json!("a\u{7}b")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("customer", json!("x".repeat(129))),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("customer", json!(42)),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("currency", json!("EUR'; DROP TABLE revenue; --")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("date", json!("2999-01-01")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("date", json!("10/06/2025")),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("id", json!("x".repeat(129))),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("id", json!({ "nested": 1 })),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            one("price", json!("1.00")),
            400,
            "invalid_import",
        ),
        ("text/csv", "\u{0}\u{1}binary".into(), 400, "invalid_import"),
        (
            "text/csv",
            "customer,amount,currency,date\nanna,\"1,5\",EUR,2025-06-10\n".into(),
            400,
            "invalid_import",
        ),
        (
            "application/xml",
            "<revenue/>".into(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = app.post_revenue(&admin, content_type, body.clone()).await;
        assert_eq!(error_code(response, status).await, code, "{body}");
    }
    let mut huge = String::from("[");
    let item = row("anna", json!("1.00"), "EUR", "2025-06-10").to_string();
    while huge.len() <= MAX_IMPORT_BYTES {
        huge.push_str(&item);
        huge.push(',');
    }
    huge.push_str(&item);
    huge.push(']');
    let response = app.post_revenue(&admin, "application/json", huge).await;
    assert_eq!(error_code(response, 413).await, "payload_too_large");
    // Nothing was stored, and the table is still there.
    assert_eq!(app.revenue("").await["currencies"], json!([]));
}

async fn only_an_admin_key_may_import_revenue(app: TestApp) {
    let rows = json!([row("anna", json!("1.00"), "EUR", "2025-06-10")]).to_string();
    let read_key = app.api_key.clone();
    let response = app
        .post_revenue(&read_key, "application/json", rows.clone())
        .await;
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = app
        .post_revenue("tsk_wrong", "application/json", rows.clone())
        .await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    app.create_site("other").await;
    let other_admin = app.create_key_for("other", KeyScope::Admin).await;
    let response = app
        .post_revenue(&other_admin, "application/json", rows)
        .await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    // The report takes a read key, and no key is refused.
    assert_eq!(app.revenue("").await["currencies"], json!([]));
    let response = app
        .get_as(&format!("/v1/sites/{}/nps/revenue", app.site), None)
        .await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
}

async fn export_and_erasure_cover_a_customers_revenue(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let annas_browser = event_id();
    app.store_visits(vec![vec![
        identify("ben", at("2025-06-03T10:00:00Z")),
        response(9, at("2025-06-03T10:05:00Z")),
    ]])
    .await;
    let anna = json!({ "site": "demo", "visitor": annas_browser, "events": [
        identify("anna", noon()),
        response(10, noon()),
    ]});
    assert_eq!(app.collect(&anna).await.status(), 200);
    app.import_revenue(
        &admin,
        &json!([
            { "id": "INV-9", "customer": "anna", "amount": "12.50", "currency": "EUR", "date": date_of(noon()) },
            row("anna", json!(300), "JPY", &date_of(noon())),
            row("ben", json!("20.00"), "EUR", "2025-06-10"),
        ]),
    )
    .await;

    let export = app
        .privacy_request("export", &admin, &json!({ "customer": "anna" }))
        .await;
    let revenue = export["revenue"].as_array().unwrap();
    assert_eq!(revenue.len(), 2, "{export}");
    let mut amounts: Vec<(&str, &str)> = revenue
        .iter()
        .map(|row| {
            assert_eq!(row["customer"], "anna");
            (
                row["amount"].as_str().unwrap(),
                row["currency"].as_str().unwrap(),
            )
        })
        .collect();
    amounts.sort();
    assert_eq!(amounts, [("12.50", "EUR"), ("300", "JPY")]);
    assert!(revenue.iter().any(|row| row["reference"] == "INV-9"));
    // A visitor's export holds no revenue: revenue belongs to customer ids.
    let by_visitor = app
        .privacy_request("export", &admin, &json!({ "visitor": annas_browser }))
        .await;
    assert_eq!(by_visitor["revenue"], json!([]));

    let erased = app
        .privacy_request("erase", &admin, &json!({ "customer": "anna" }))
        .await;
    assert_eq!(
        erased["erased"],
        json!({ "visitors": 1, "events": 2, "responses": 1, "revenue": 2 })
    );
    let export = app
        .privacy_request("export", &admin, &json!({ "customer": "anna" }))
        .await;
    assert_eq!(
        (&export["events"], &export["revenue"]),
        (&json!([]), &json!([]))
    );
    // Ben's revenue stays; Anna's yen are gone with her, so one currency is left.
    let report = app.revenue("").await;
    assert_eq!(report["currencies"], json!(["EUR"]));
    assert_eq!(report["revenue"]["total"], "20.00");
    assert_eq!(report["customers"]["total"], 1);
}
