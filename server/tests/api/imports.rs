//! History imports: past answers from other NPS tools' CSV exports, all or nothing, once only,
//! feeding the reports like the widget's answers.

use crate::helpers::*;
use crate::on_every_backend;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use touchstone_server::api_key::KeyScope;
use touchstone_server::import::MAX_IMPORT_BYTES;

on_every_backend!(
    a_delighted_export_imports_and_the_trend_shows_it,
    importing_the_same_rows_again_stores_nothing,
    columns_and_time_zones_can_be_named,
    a_bad_row_is_named_by_its_line_and_nothing_is_stored,
    an_oversized_file_is_refused,
    binary_and_other_bodies_that_are_not_csv_are_refused,
    formula_looking_comments_stay_text,
    only_an_admin_key_may_import,
    imported_answers_belong_to_their_customer,
    trait_columns_feed_the_segments_by_trait,
);

/// A Delighted export: four answers of three customers over three days, one with a comment.
const DELIGHTED: &str = "Response ID,Email,Score,Comment,Created At,Properties\n\
    1,anna@example.com,10,Lovely beans,2025-03-01 09:15:00,\n\
    2,ben@example.com,6,,2025-03-01 18:00:00,\n\
    3,cleo@example.com,9,,2025-03-03 12:00:00,plan=pro\n\
    4,anna@example.com,8,\"Good, but slow\",2025-03-03 13:00:00,\n";

impl TestApp {
    /// Posts `body` as `content_type` to `path` with `key`.
    pub async fn post_as(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("posting to the collector")
    }

    /// Imports `csv` as past answers with an admin key, `query` added to the path.
    async fn import_answers(&self, key: &str, query: &str, csv: &str) -> reqwest::Response {
        self.post_as(
            &format!("/v1/sites/{}/imports/responses{query}", self.site),
            Some(key),
            "text/csv",
            csv.to_owned(),
        )
        .await
    }

    /// The day-by-day trend of a period, asserting a `200`.
    async fn trend(&self, query: &str) -> Value {
        let response = self
            .get_with_key(&format!("/v1/sites/{}/nps/trend{query}", self.site))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The answers listed for a period, newest first.
    async fn listed(&self, query: &str) -> Vec<Value> {
        let response = self
            .get_with_key(&format!("/v1/sites/{}/responses{query}", self.site))
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["responses"].as_array().unwrap().clone()
    }
}

/// The JSON body of a response, asserting its status.
async fn body_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}

/// Each point's (promoters, passives, detractors).
fn points(trend: &Value) -> Vec<(u64, u64, u64)> {
    trend["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| {
            let count = |field: &str| point[field].as_u64().unwrap();
            (count("promoters"), count("passives"), count("detractors"))
        })
        .collect()
}

async fn a_delighted_export_imports_and_the_trend_shows_it(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let receipt = body_of(app.import_answers(&admin, "", DELIGHTED).await, 200).await;
    assert_eq!(
        receipt,
        json!({
            "site": "demo", "survey": "nps", "rows": 4, "imported": 4, "already_present": 0,
            "customers": 3, "from": "2025-03-01T09:15:00Z", "to": "2025-03-03T13:00:00Z",
        })
    );
    // Whole days come from the hourly rollups: the import went through them.
    let trend = app.trend("?from=2025-03-01&to=2025-03-03").await;
    assert_eq!(points(&trend), [(1, 0, 1), (0, 0, 0), (1, 1, 0)]);
    let nps = app.nps("?from=2025-03-01&to=2025-03-03").await;
    assert_eq!(
        (nps["responses"].clone(), nps["nps"].clone()),
        (json!(4), json!(25.0))
    );
    // In the survey asked for, `nps` by default.
    let other = app.nps("?survey=checkout").await;
    assert_eq!(other["responses"], 0);
    let listed = app.listed("?from=2025-03-01&to=2025-03-03").await;
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["comment"], "Good, but slow");
    assert_eq!(listed[0]["customer"], "anna@example.com");
    assert_eq!(listed[0]["at"], "2025-03-03T13:00:00Z");
}

async fn importing_the_same_rows_again_stores_nothing(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    body_of(app.import_answers(&admin, "", DELIGHTED).await, 200).await;
    let again = body_of(app.import_answers(&admin, "", DELIGHTED).await, 200).await;
    assert_eq!(
        (&again["imported"], &again["already_present"]),
        (&json!(0), &json!(4))
    );
    assert_eq!(app.nps("").await["responses"], 4);

    // A row repeated within a file is one answer; a changed row is a new one.
    let file = "email,score,date,comment\nanna@example.com,10,2025-03-01 09:15:00,Lovely beans\n\
                dora@example.com,5,2025-03-02,\ndora@example.com,5,2025-03-02,\n";
    let receipt = body_of(app.import_answers(&admin, "", file).await, 200).await;
    assert_eq!(
        (
            &receipt["rows"],
            &receipt["imported"],
            &receipt["already_present"]
        ),
        (&json!(3), &json!(1), &json!(2))
    );
    let trend = app.trend("?from=2025-03-01&to=2025-03-03").await;
    assert_eq!(points(&trend), [(1, 0, 1), (0, 0, 1), (1, 1, 0)]);

    // Into another survey, the same rows are still the same answers: nothing doubles.
    let elsewhere = body_of(
        app.import_answers(&admin, "?survey=checkout", DELIGHTED)
            .await,
        200,
    )
    .await;
    assert_eq!(elsewhere["imported"], 0);
    assert_eq!(app.nps("").await["responses"], 5);
}

async fn columns_and_time_zones_can_be_named(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let file = "Q1,When,Who,Q2,Score\n9,2025-03-01 23:30:00,cus_1,Fine,0\n";
    // Without a mapping, `Score` would be taken: the file says 0, but Q1 is the NPS question.
    let receipt = body_of(
        app.import_answers(
            &admin,
            "?score=q1&date=When&customer=WHO&comment=Q2&tz=America/New_York&survey=legacy",
            file,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(receipt["survey"], "legacy");
    // 23:30 in New York is 04:30 the next day in UTC.
    assert_eq!(receipt["from"], "2025-03-02T04:30:00Z");
    let listed = app.listed("?survey=legacy").await;
    assert_eq!(listed[0]["score"], 9);
    assert_eq!(listed[0]["comment"], "Fine");
    assert_eq!(listed[0]["customer"], "cus_1");

    for (query, wanted) in [
        ("?score=Nope", "no column \\\"Nope\\\""),
        ("?tz=Mars/Olympus", "IANA time zone"),
        ("?survey=Not%20A%20Survey", "survey"),
    ] {
        let response = app.import_answers(&admin, query, file).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(wanted), "{query}: {body}");
    }
}

async fn a_bad_row_is_named_by_its_line_and_nothing_is_stored(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    // The third data row, on the fourth line (the header is line 1), has a score of 11; the
    // comment before it spans two lines, so the last row starts on line 7.
    let file = "Email,Score,Date,Comment\n\
                a@example.com,9,2025-03-01,\n\
                b@example.com,7,2025-03-01,\n\
                c@example.com,11,2025-03-01,\n\
                d@example.com,8,2025-03-01,\"one\ntwo\"\n\
                ,3,yesterday,\n";
    let response = app.import_answers(&admin, "", file).await;
    let body = body_of(response, 400).await;
    assert_eq!(body["code"], "invalid_import");
    assert_eq!(body["problem_count"], 3);
    assert_eq!(
        body["problems"][0],
        json!({ "line": 4, "row": 3, "column": "Score",
                "message": "a score is a whole number from 0 to 10, not \"11\"" })
    );
    assert_eq!(body["problems"][1]["line"], 7);
    assert_eq!(body["problems"][1]["row"], 5);
    assert_eq!(body["problems"][1]["column"], "Email");
    assert_eq!(body["problems"][2]["column"], "Date");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("nothing was imported"), "{message}");
    assert!(message.contains("line 4, row 3"), "{message}");
    // Not even the good rows before it.
    assert_eq!(app.nps("").await["responses"], 0);
    assert!(app.listed("").await.is_empty());

    // A file without the columns it needs says which ones and what it has.
    let body = body_of(
        app.import_answers(&admin, "", "name,value\nx,1\n").await,
        400,
    )
    .await;
    let first = body["problems"][0]["message"].as_str().unwrap();
    assert!(
        first.contains("no score column") && first.contains("\"name\", \"value\""),
        "{first}"
    );

    // Many bad rows: the first 20 are listed, all are counted.
    let mut many = String::from("email,score,date\n");
    for row in 0..100 {
        many.push_str(&format!("x{row}@example.com,12,2025-03-01\n"));
    }
    let body = body_of(app.import_answers(&admin, "", &many).await, 400).await;
    assert_eq!(body["problem_count"], 100);
    assert_eq!(body["problems"].as_array().unwrap().len(), 20);
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn an_oversized_file_is_refused(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let row = "someone@example.com,9,2025-03-01,fine\n";
    let mut file = String::from("email,score,date,comment\n");
    while file.len() <= MAX_IMPORT_BYTES {
        file.push_str(row);
    }
    let response = app.import_answers(&admin, "", &file).await;
    assert_eq!(error_code(response, 413).await, "payload_too_large");
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn binary_and_other_bodies_that_are_not_csv_are_refused(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let path = format!("/v1/sites/{}/imports/responses", app.site);
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text/csv", png.to_vec(), 400, "invalid_import"),
        (
            "text/csv",
            b"email,score,date\na@x,9,2025-03-01\n\x00\x01".to_vec(),
            400,
            "invalid_import",
        ),
        ("text/csv", Vec::new(), 400, "invalid_import"),
        (
            "text/csv",
            b"email,score,date\n".to_vec(),
            400,
            "invalid_import",
        ),
        (
            "text/csv",
            br#"{"email": "a@x", "score": 9}"#.to_vec(),
            400,
            "invalid_import",
        ),
        (
            "application/json",
            br#"{"email": "a@x"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("image/png", png.to_vec(), 415, "unsupported_media_type"),
        // Too many cells for the header: a comma in an unquoted comment.
        (
            "text/csv",
            b"email,score,date,comment\na@x,9,2025-03-01,good, really\n".to_vec(),
            400,
            "invalid_import",
        ),
        // A customer id longer than 128 characters, and one with a control character.
        (
            "text/csv",
            format!("email,score,date\n{},9,2025-03-01\n", "x".repeat(129)).into_bytes(),
            400,
            "invalid_import",
        ),
        (
            "text/csv",
            b"email,score,date\na\x07b,9,2025-03-01\n".to_vec(),
            400,
            "invalid_import",
        ),
        // Dates in the future or before 1970.
        (
            "text/csv",
            b"email,score,date\na@x,9,2999-01-01\n".to_vec(),
            400,
            "invalid_import",
        ),
        (
            "text/csv",
            b"email,score,date\na@x,9,1969-12-31\n".to_vec(),
            400,
            "invalid_import",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = app
            .post_as(&path, Some(&admin), content_type, body.clone())
            .await;
        assert_eq!(
            error_code(response, status).await,
            code,
            "{content_type}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    // A header with `;` separators, as spreadsheets in many locales save, is fine.
    let semicolons = "email;score;date\na@x;9;2025-03-01\n";
    body_of(app.import_answers(&admin, "", semicolons).await, 200).await;
    assert_eq!(app.nps("").await["responses"], 1, "only the good file");
}

async fn formula_looking_comments_stay_text(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let file = "email,score,date,comment\n\
                a@x,2,2025-03-01 10:00:00,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n\
                b@x,3,2025-03-01 11:00:00,+1 cmd\n\
                c@x,4,2025-03-01 12:00:00,@SUM(A1)\n\
                d@x,5,2025-03-01 13:00:00,<script>alert(1)</script>\n";
    body_of(app.import_answers(&admin, "", file).await, 200).await;
    let comments: Vec<Value> = app
        .listed("")
        .await
        .iter()
        .map(|answer| answer["comment"].clone())
        .collect();
    assert_eq!(
        comments,
        [
            json!("<script>alert(1)</script>"),
            json!("@SUM(A1)"),
            json!("+1 cmd"),
            json!("=HYPERLINK(\"http://evil.example\",\"x\")"),
        ]
    );
    // The export defuses them for spreadsheets; what is stored is what was written.
    let csv = app
        .get_with_key(&format!("/v1/sites/{}/responses.csv", app.site))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("'@SUM(A1)"), "{csv}");
}

async fn only_an_admin_key_may_import(app: TestApp) {
    let read_key = app.api_key.clone();
    let response = app.import_answers(&read_key, "", DELIGHTED).await;
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = app.import_answers("tsk_wrong", "", DELIGHTED).await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    let path = format!("/v1/sites/{}/imports/responses", app.site);
    let response = app.post_as(&path, None, "text/csv", DELIGHTED).await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    app.create_site("other").await;
    let other_admin = app.create_key_for("other", KeyScope::Admin).await;
    let response = app.import_answers(&other_admin, "", DELIGHTED).await;
    assert_eq!(error_code(response, 401).await, "unauthorized");
    assert_eq!(app.nps("").await["responses"], 0);
}

async fn imported_answers_belong_to_their_customer(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    body_of(app.import_answers(&admin, "", DELIGHTED).await, 200).await;
    // A privacy export of the customer finds the imported answers through their identify.
    let export = body_of(
        app.post_as(
            &format!("/v1/sites/{}/privacy/export", app.site),
            Some(&admin),
            "application/json",
            json!({ "customer": "anna@example.com" }).to_string(),
        )
        .await,
        200,
    )
    .await;
    let mut kinds: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["identify", "response", "response"]);
    assert_eq!(export["visitors"].as_array().unwrap().len(), 1);
    // Erasing the customer takes the imported answers out of the reports too.
    let erased = body_of(
        app.post_as(
            &format!("/v1/sites/{}/privacy/erase", app.site),
            Some(&admin),
            "application/json",
            json!({ "customer": "anna@example.com" }).to_string(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(erased["erased"]["responses"], 2);
    let trend = app.trend("?from=2025-03-01&to=2025-03-03").await;
    assert_eq!(points(&trend), [(0, 0, 1), (0, 0, 0), (1, 0, 0)]);
}

async fn trait_columns_feed_the_segments_by_trait(app: TestApp) {
    let admin = app.create_key(KeyScope::Admin).await;
    let file = "Email,Score,Created At,Company,Plan\n\
                anna@example.com,10,2025-03-01,Acme,pro\n\
                ben@example.com,2,2025-03-01,Globex,\n\
                cleo@example.com,9,2025-03-02,Acme,business\n";
    body_of(
        app.import_answers(&admin, "?trait.account=Company&trait.plan=Plan", file)
            .await,
        200,
    )
    .await;
    let segments = body_of(
        app.get_with_key(&format!("/v1/sites/{}/segments?by=trait.account", app.site))
            .await,
        200,
    )
    .await;
    let accounts: Vec<(Value, Value)> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| (segment["value"].clone(), segment["responses"].clone()))
        .collect();
    assert_eq!(
        accounts,
        [(json!("Acme"), json!(2)), (json!("Globex"), json!(1))]
    );
    let plans = body_of(
        app.get_with_key(&format!("/v1/sites/{}/segments?by=trait.plan", app.site))
            .await,
        200,
    )
    .await;
    // Ben's blank plan is no plan.
    assert!(
        plans["segments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|segment| segment["value"].is_null() && segment["responses"] == 1),
        "{plans}"
    );

    // The account report sees them too: Acme's two people make one voice, (10 + 9) / 2.
    let accounts = body_of(
        app.get_with_key(&format!("/v1/sites/{}/nps/accounts", app.site))
            .await,
        200,
    )
    .await;
    let acme = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["account"] == "Acme")
        .unwrap_or_else(|| panic!("{accounts}"));
    assert_eq!(
        (&acme["respondents"], &acme["mean_score"]),
        (&json!(2), &json!(9.5))
    );
    assert_eq!(accounts["total_accounts"], 2);

    // A mistyped parameter is refused rather than ignored.
    for query in [
        "?scroe=Score",
        "?trait.Bad%20Name=Company",
        "?trait.plan=Nope",
    ] {
        let response = app.import_answers(&admin, query, file).await;
        assert_eq!(response.status(), 400, "{query}");
    }
}
