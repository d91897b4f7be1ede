//! The read API: who may read a site's reports, and what the NPS and touchpoint reports say.

use crate::helpers::*;
use crate::on_every_backend;
use serde_json::{Value, json};
use touchstone_shared::Tally;

on_every_backend!(
    reports_need_a_valid_key_for_that_very_site,
    the_nps_of_a_site_without_answers_is_null,
    the_nps_counts_each_category_and_gives_its_95_percent_interval,
    the_nps_covers_only_the_period_asked_for,
    a_malformed_period_is_refused,
    the_touchpoint_report_counts_each_moment,
    a_comparison_gives_the_change_its_interval_and_p_value,
    drivers_compare_journeys_with_and_without_each_moment,
    responses_are_listed_page_by_page_with_their_journeys,
    the_csv_export_holds_every_answer_quoted_and_defused,
    segments_group_answers_by_context_source_and_trait,
    paths_show_the_commonest_journeys_to_each_kind_of_answer,
    accounts_make_one_voice_each_and_the_ones_at_risk_come_first,
);

async fn reports_need_a_valid_key_for_that_very_site(app: TestApp) {
    let path = format!("/v1/sites/{}/nps", app.site);
    assert_eq!(
        error_code(app.get_as(&path, None).await, 401).await,
        "unauthorized"
    );
    assert_eq!(
        error_code(app.get_as(&path, Some("tsk_wrong")).await, 401).await,
        "unauthorized"
    );
    let (other_site, other_key) = app.create_site("other").await;
    assert_eq!(
        error_code(app.get_as(&path, Some(&other_key)).await, 401).await,
        "unauthorized"
    );
    let other_path = format!("/v1/sites/{other_site}/touchpoints");
    assert_eq!(
        error_code(app.get_as(&other_path, Some(&app.api_key)).await, 401).await,
        "unauthorized"
    );
    // A site that does not exist answers exactly like one the key does not open.
    let missing = app.get_as("/v1/sites/nobody/nps", Some(&app.api_key)).await;
    assert_eq!(error_code(missing, 401).await, "unauthorized");
    assert_eq!(
        app.get_as(&other_path, Some(&other_key)).await.status(),
        200
    );
}

async fn the_nps_of_a_site_without_answers_is_null(app: TestApp) {
    let report = app.nps("").await;
    assert_eq!(report["responses"], 0);
    assert_eq!(report["nps"], Value::Null);
    assert_eq!(report["confidence_interval"], Value::Null);
}

async fn the_nps_counts_each_category_and_gives_its_95_percent_interval(app: TestApp) {
    // 5 promoters (9, 10), 3 passives (7, 8), 2 detractors (0, 6): NPS = 50% − 20% = 30.
    let scores = [9, 10, 9, 10, 10, 7, 8, 8, 0, 6];
    let events = scores
        .iter()
        .map(|&score| response(score, noon()))
        .collect();
    assert_eq!(app.collect(&batch(events)).await.status(), 200);

    let report = app.nps("").await;
    assert_eq!(
        (
            report["promoters"].clone(),
            report["passives"].clone(),
            report["detractors"].clone()
        ),
        (json!(5), json!(3), json!(2))
    );
    assert_eq!(report["responses"], 10);
    assert!((report["nps"].as_f64().unwrap() - 30.0).abs() < 1e-9);
    // Var = (0.5 + 0.2 − 0.3²) / 10 = 0.061; margin = 1.96 × √0.061 × 100 ≈ 48.41 points.
    let margin = report["margin_of_error"].as_f64().unwrap();
    assert!((margin - 48.407).abs() < 0.01, "{margin}");
    assert_eq!(margin, Tally::new(5, 3, 2).margin_of_error().unwrap());
    assert!(
        (report["confidence_interval"]["low"].as_f64().unwrap() - (30.0 - margin)).abs() < 1e-9
    );
    assert!(
        (report["confidence_interval"]["high"].as_f64().unwrap() - (30.0 + margin)).abs() < 1e-9
    );
    assert_eq!(report["confidence_level"], 0.95);
}

async fn the_nps_covers_only_the_period_asked_for(app: TestApp) {
    let (before, day, after) = (noon_days_ago(3), noon_days_ago(2), noon_days_ago(1));
    let events = vec![response(10, before), response(0, day), response(0, after)];
    assert_eq!(app.collect(&batch(events)).await.status(), 200);

    let date = date_of(day);
    let that_day = app.nps(&format!("?from={date}&to={date}")).await;
    assert_eq!(that_day["responses"], 1);
    assert_eq!(that_day["from"], format!("{date}T00:00:00Z"));
    assert_eq!(that_day["to"], format!("{}T00:00:00Z", date_of(after)));
    assert_eq!(
        app.nps(&format!("?to={date}T12:00:00Z")).await["promoters"],
        1,
        "`to` instants are exclusive"
    );
    assert_eq!(app.nps(&format!("?from={date}")).await["detractors"], 2);
    // Bounds inside an hour are answered exactly, from the raw events at the edges.
    assert_eq!(
        app.nps(&format!(
            "?from={date}T11:59:59.999Z&to={date}T12:00:00.001Z"
        ))
        .await["responses"],
        1
    );
    assert_eq!(
        app.nps(&format!("?from={date}T12:00:00.001Z&to={date}T13:00:00Z"))
            .await["responses"],
        0
    );
    assert_eq!(app.nps("").await["responses"], 3);
}

async fn a_malformed_period_is_refused(app: TestApp) {
    for query in [
        "?from=last-week",
        "?to=2025-02-30",
        "?from=2025-11-21&to=2025-11-20",
    ] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/nps{query}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{query}"
        );
    }
}

async fn the_touchpoint_report_counts_each_moment(app: TestApp) {
    let events = vec![
        touchpoint("page_view", noon()),
        touchpoint("page_view", noon()),
        touchpoint("pricing_viewed", noon()),
        response(8, noon()),
    ];
    assert_eq!(app.collect(&batch(events)).await.status(), 200);
    let response = app
        .get_with_key(&format!("/v1/sites/{}/touchpoints", app.site))
        .await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(
        report["touchpoints"],
        json!([{"name": "page_view", "count": 2}, {"name": "pricing_viewed", "count": 1}])
    );
}

/// The NPS trend: one point per day, ISO week or month of a period in a time zone.
mod trend {
    use crate::helpers::*;
    use crate::on_every_backend;
    use serde_json::Value;
    use touchstone_shared::Tally;

    on_every_backend!(
        the_trend_counts_each_day_and_keeps_the_empty_ones,
        days_follow_the_clock_change_of_the_time_zone,
        a_day_edge_at_half_past_an_hour_is_exact_to_the_millisecond,
        a_point_starting_and_ending_inside_an_hour_is_exact,
        weeks_start_on_monday_and_months_on_the_first,
        the_trend_needs_a_key_for_that_very_site,
        bad_buckets_time_zones_and_periods_are_refused,
    );

    /// Milliseconds since the epoch of an RFC 3339 instant.
    fn at(instant: &str) -> i64 {
        instant.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    async fn trend(app: &TestApp, query: &str) -> Value {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/nps/trend{query}", app.site))
            .await;
        assert_eq!(response.status(), 200, "the trend should be readable");
        response.json().await.unwrap()
    }

    /// Each point's number of answers.
    fn responses(report: &Value) -> Vec<u64> {
        report["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| point["responses"].as_u64().unwrap())
            .collect()
    }

    /// Each point's start and end.
    fn bounds(report: &Value) -> Vec<(&str, &str)> {
        report["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| {
                (
                    point["start"].as_str().unwrap(),
                    point["end"].as_str().unwrap(),
                )
            })
            .collect()
    }

    async fn the_trend_counts_each_day_and_keeps_the_empty_ones(app: TestApp) {
        app.store_directly(vec![
            response(10, at("2026-02-02T08:00:00Z")),
            response(9, at("2026-02-02T23:59:59.999Z")),
            response(7, at("2026-02-02T12:00:00Z")),
            response(3, at("2026-02-04T00:00:00Z")),
            // Outside the period.
            response(0, at("2026-02-01T23:59:59.999Z")),
            response(0, at("2026-02-05T00:00:00Z")),
        ])
        .await;
        let report = trend(&app, "?from=2026-02-02&to=2026-02-04").await;
        assert_eq!(report["site"], "demo");
        assert_eq!(report["bucket"], "day");
        assert_eq!(report["time_zone"], "UTC");
        assert_eq!(report["confidence_level"], 0.95);
        assert_eq!(report["from"], "2026-02-02T00:00:00+00:00");
        assert_eq!(report["to"], "2026-02-05T00:00:00+00:00");
        assert_eq!(responses(&report), [3, 0, 1]);

        let first = &report["points"][0];
        assert_eq!(first["start"], "2026-02-02T00:00:00+00:00");
        assert_eq!(first["end"], "2026-02-03T00:00:00+00:00");
        assert_eq!(
            (
                &first["promoters"],
                &first["passives"],
                &first["detractors"]
            ),
            (&2.into(), &1.into(), &0.into())
        );
        let expected = Tally::new(2, 1, 0);
        assert!((first["nps"].as_f64().unwrap() - expected.nps().unwrap()).abs() < 1e-9);
        assert_eq!(
            first["margin_of_error"].as_f64(),
            expected.margin_of_error()
        );
        assert_eq!(first["small_sample"], true);

        let empty = &report["points"][1];
        assert_eq!(empty["nps"], Value::Null);
        assert_eq!(empty["margin_of_error"], Value::Null);
        assert_eq!(empty["confidence_interval"], Value::Null);
        assert_eq!(report["points"][2]["nps"], -100.0);

        // The points add up to the NPS report of the same period.
        let total = app.nps("?from=2026-02-02&to=2026-02-04").await;
        assert_eq!(total["responses"], 4);
    }

    async fn days_follow_the_clock_change_of_the_time_zone(app: TestApp) {
        // Paris moves from +01:00 to +02:00 at 2026-03-29T01:00Z: that day is 23 hours long.
        app.store_directly(vec![
            response(10, at("2026-03-28T22:59:59.999Z")), // 23:59 on the 28th in Paris
            response(10, at("2026-03-28T23:00:00Z")),     // midnight on the 29th
            response(0, at("2026-03-29T21:59:59.999Z")),  // 23:59 on the 29th, summer time
            response(0, at("2026-03-29T22:00:00Z")),      // midnight on the 30th
        ])
        .await;
        let report = trend(&app, "?from=2026-03-28&to=2026-03-30&tz=Europe/Paris").await;
        assert_eq!(report["time_zone"], "Europe/Paris");
        assert_eq!(
            bounds(&report),
            [
                ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"),
                ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
                ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"),
            ]
        );
        assert_eq!(responses(&report), [1, 2, 1]);
        assert_eq!(report["points"][1]["nps"], 0.0);
        // The same answers in UTC days.
        let utc = trend(&app, "?from=2026-03-28&to=2026-03-29").await;
        assert_eq!(responses(&utc), [2, 2]);
    }

    async fn a_day_edge_at_half_past_an_hour_is_exact_to_the_millisecond(app: TestApp) {
        // In Kolkata (+05:30) the 2nd of February starts at 18:30 UTC on the 1st, inside an
        // hour the rollups hold as a whole.
        app.store_directly(vec![
            response(10, at("2026-02-01T18:00:00Z")),
            response(10, at("2026-02-01T18:29:59.999Z")),
            response(0, at("2026-02-01T18:30:00Z")),
            response(0, at("2026-02-01T18:59:59.999Z")),
            response(8, at("2026-02-01T20:00:00Z")),
            response(9, at("2026-02-01T05:00:00Z")),
        ])
        .await;
        let report = trend(&app, "?from=2026-02-01&to=2026-02-02&tz=Asia/Kolkata").await;
        assert_eq!(
            bounds(&report)[1],
            ("2026-02-02T00:00:00+05:30", "2026-02-03T00:00:00+05:30")
        );
        assert_eq!(responses(&report), [3, 3]);
        assert_eq!(report["points"][0]["promoters"], 3);
        assert_eq!(report["points"][1]["detractors"], 2);
        assert_eq!(report["points"][1]["passives"], 1);
    }

    async fn a_point_starting_and_ending_inside_an_hour_is_exact(app: TestApp) {
        app.store_directly(vec![
            response(9, at("2026-02-10T10:14:59.999Z")),
            response(9, at("2026-02-10T10:15:00Z")),
            response(9, at("2026-02-10T12:00:00Z")),
            response(9, at("2026-02-10T13:44:59.999Z")),
            response(9, at("2026-02-10T13:45:00Z")),
        ])
        .await;
        let report = trend(
            &app,
            "?from=2026-02-10T10:15:00Z&to=2026-02-10T13:45:00Z&bucket=week",
        )
        .await;
        assert_eq!(
            bounds(&report),
            [("2026-02-10T10:15:00+00:00", "2026-02-10T13:45:00+00:00")]
        );
        assert_eq!(responses(&report), [3]);
    }

    async fn weeks_start_on_monday_and_months_on_the_first(app: TestApp) {
        app.store_directly(vec![
            response(10, at("2026-02-08T23:59:59Z")), // Sunday: the first week
            response(10, at("2026-02-09T00:00:00Z")), // Monday: the second
            response(10, at("2026-02-22T12:00:00Z")), // Sunday: the third
            response(10, at("2026-01-31T22:30:00Z")), // 23:30 on the 31st in Paris
            response(10, at("2026-01-31T23:30:00Z")), // 00:30 on 1 February in Paris
            response(10, at("2026-03-31T21:59:00Z")), // 23:59 on 31 March in Paris (summer time)
        ])
        .await;
        // 2026-02-04 is a Wednesday: the first week is cut to start there.
        let weeks = trend(&app, "?from=2026-02-04&to=2026-02-22&bucket=week").await;
        assert_eq!(weeks["bucket"], "week");
        assert_eq!(
            bounds(&weeks),
            [
                ("2026-02-04T00:00:00+00:00", "2026-02-09T00:00:00+00:00"),
                ("2026-02-09T00:00:00+00:00", "2026-02-16T00:00:00+00:00"),
                ("2026-02-16T00:00:00+00:00", "2026-02-23T00:00:00+00:00"),
            ]
        );
        assert_eq!(responses(&weeks), [1, 1, 1]);

        let months = trend(
            &app,
            "?from=2026-01-15&to=2026-03-31&bucket=month&tz=Europe/Paris",
        )
        .await;
        assert_eq!(
            bounds(&months),
            [
                ("2026-01-15T00:00:00+01:00", "2026-02-01T00:00:00+01:00"),
                ("2026-02-01T00:00:00+01:00", "2026-03-01T00:00:00+01:00"),
                ("2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00"),
            ]
        );
        assert_eq!(responses(&months), [1, 4, 1]);
    }

    async fn the_trend_needs_a_key_for_that_very_site(app: TestApp) {
        let path = format!("/v1/sites/{}/nps/trend?from=2026-02-01", app.site);
        let (_, other_key) = app.create_site("other").await;
        assert_eq!(
            error_code(app.get_as(&path, Some(&other_key)).await, 401).await,
            "unauthorized"
        );
        assert_eq!(
            error_code(app.get_as(&path, None).await, 401).await,
            "unauthorized"
        );
    }

    async fn bad_buckets_time_zones_and_periods_are_refused(app: TestApp) {
        for query in [
            "?from=2026-02-01&bucket=year",
            "?from=2026-02-01&tz=Mars/Olympus_Mons",
            "?from=2000-01-01&to=2026-01-01",
            "?to=2026-02-01",
            "?from=2026-02-02&to=2026-02-01",
            "?from=2126-02-02",
            "?from=yesterday",
        ] {
            let response = app
                .get_with_key(&format!("/v1/sites/{}/nps/trend{query}", app.site))
                .await;
            assert_eq!(
                error_code(response, 400).await,
                "invalid_parameter",
                "{query}"
            );
        }
        // A thousand days is the most one trend shows.
        let longest = trend(&app, "?from=2023-01-01T00:00:00Z&to=2025-09-27T00:00:00Z").await;
        assert_eq!(longest["points"].as_array().unwrap().len(), 1_000);
    }
}

/// `promoters`, `passives` and `detractors` answers at `at`, one millisecond apart.
fn answers(promoters: usize, passives: usize, detractors: usize, at: i64) -> Vec<Value> {
    [(10, promoters), (7, passives), (3, detractors)]
        .into_iter()
        .flat_map(|(score, count)| std::iter::repeat_n(score, count))
        .enumerate()
        .map(|(i, score)| response(score, at + i as i64))
        .collect()
}

async fn a_comparison_gives_the_change_its_interval_and_p_value(app: TestApp) {
    // The worked example of `touchstone_shared::compare`: 50/30/20 (NPS 30) in the baseline,
    // 60/25/15 (NPS 45) in the period: +15, interval −6.087..36.087, p = 0.16325.
    let (baseline_day, period_day) = (noon_days_ago(60), noon_days_ago(20));
    app.store_directly(answers(50, 30, 20, baseline_day)).await;
    app.store_directly(answers(60, 25, 15, period_day)).await;
    let path = format!(
        "/v1/sites/{}/nps/compare?from={}&to={}&baseline_from={}&baseline_to={}",
        app.site,
        date_of(period_day),
        date_of(period_day),
        date_of(baseline_day),
        date_of(baseline_day)
    );
    let response = app.get_with_key(&path).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    let close = |value: &Value, expected: f64| (value.as_f64().unwrap() - expected).abs() < 1e-4;
    assert!(close(&report["period"]["nps"], 45.0), "{report}");
    assert!(close(&report["baseline"]["nps"], 30.0), "{report}");
    assert_eq!(report["period"]["responses"], 100);
    assert_eq!(
        report["period"]["from"],
        format!("{}T00:00:00Z", date_of(period_day))
    );
    assert!(close(&report["difference"], 15.0), "{report}");
    assert!(
        close(&report["confidence_interval"]["low"], -6.086_699),
        "{report}"
    );
    assert!(
        close(&report["confidence_interval"]["high"], 36.086_699),
        "{report}"
    );
    assert!(close(&report["p_value"], 0.163_252), "{report}");
    assert_eq!(report["small_sample"], false);
    assert!(report["method"].as_str().unwrap().contains("z-test"));

    // A baseline without answers compares nothing.
    let empty = app
        .get_with_key(&format!(
            "/v1/sites/{}/nps/compare?from={}&baseline_from=2020-01-01&baseline_to=2020-01-31",
            app.site,
            date_of(period_day)
        ))
        .await;
    let empty: Value = empty.json().await.unwrap();
    assert_eq!(
        (empty["difference"].clone(), empty["p_value"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(empty["small_sample"], true);

    let bad = app
        .get_with_key(&format!(
            "/v1/sites/{}/nps/compare?baseline_from=last-year",
            app.site
        ))
        .await;
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_parameter");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the baseline"),
        "{body}"
    );
    let other = app.create_site("other").await.1;
    let refused = app
        .get_as(&format!("/v1/sites/{}/nps/compare", app.site), Some(&other))
        .await;
    assert_eq!(error_code(refused, 401).await, "unauthorized");
}

async fn drivers_compare_journeys_with_and_without_each_moment(app: TestApp) {
    let at = noon_days_ago(5);
    let minute = 60_000;
    let visits = |count: usize, journey: &dyn Fn() -> Vec<Value>| -> Vec<Vec<Value>> {
        (0..count).map(|_| journey()).collect()
    };
    let mut all = Vec::new();
    // Contacted support, then scored 3.
    all.extend(visits(40, &|| {
        vec![
            touchpoint("page_view", at),
            touchpoint("support_contact", at),
            response(3, at + minute),
        ]
    }));
    // Completed a checkout, then scored 10.
    all.extend(visits(40, &|| {
        vec![
            touchpoint("checkout_completed", at),
            response(10, at + minute),
        ]
    }));
    // Contacted support twice, then scored 9: counted once each.
    all.extend(visits(10, &|| {
        vec![
            touchpoint("support_contact", at),
            touchpoint("support_contact", at + 1),
            response(9, at + minute),
        ]
    }));
    // Answered 10, contacted support only afterwards: not part of the answer's journey.
    all.extend(visits(5, &|| {
        vec![response(10, at), touchpoint("support_contact", at + minute)]
    }));
    // Contacted support 40 days before answering 10: outside the 30-day window.
    all.extend(visits(5, &|| {
        vec![
            touchpoint("support_contact", at - 40 * DAY),
            response(10, at),
        ]
    }));
    // A rare moment: listed, not ranked.
    all.extend(visits(3, &|| {
        vec![
            touchpoint("newsletter_signup", at),
            response(8, at + minute),
        ]
    }));
    app.store_visits(all).await;

    let response = app
        .get_with_key(&format!("/v1/sites/{}/drivers", app.site))
        .await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["answers"]["responses"], 103);
    assert_eq!(
        (
            report["window_days"].as_u64(),
            report["min_answers"].as_u64()
        ),
        (Some(30), Some(30))
    );
    let drivers = report["drivers"].as_array().unwrap();
    let names: Vec<&str> = drivers
        .iter()
        .map(|driver| driver["touchpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["checkout_completed", "support_contact", "newsletter_signup"],
        "page views are not drivers"
    );
    let close = |value: &Value, expected: f64| (value.as_f64().unwrap() - expected).abs() < 1e-6;
    // support_contact: with = 40 detractors + 10 promoters (NPS −60); without = 50 promoters
    // and 3 passives (NPS 50/53 = 94.34).
    let support = &drivers[1];
    assert_eq!(support["with"]["responses"], 50);
    assert!(close(&support["with"]["nps"], -60.0), "{support}");
    assert_eq!(support["without"]["responses"], 53);
    assert!(
        close(&support["difference"], -60.0 - 100.0 * 50.0 / 53.0),
        "{support}"
    );
    assert!(support["p_value"].as_f64().unwrap() < 1e-6, "{support}");
    assert_eq!(support["ranked"], true);
    // checkout_completed: with = 40 promoters (NPS 100), without = 63 answers.
    let checkout = &drivers[0];
    assert_eq!(
        (
            checkout["with"]["responses"].as_u64(),
            checkout["without"]["responses"].as_u64()
        ),
        (Some(40), Some(63))
    );
    assert!(checkout["difference"].as_f64().unwrap() > 0.0);
    assert_eq!(drivers[2]["ranked"], false);
    assert_eq!(drivers[2]["with"]["responses"], 3);

    // A window of 60 days takes in the old contact; a tighter guard ranks the rare moment.
    let wide: Value = app
        .get_with_key(&format!(
            "/v1/sites/{}/drivers?window_days=60&min_answers=3",
            app.site
        ))
        .await
        .json()
        .await
        .unwrap();
    let support = wide["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|driver| driver["touchpoint"] == "support_contact")
        .unwrap()
        .clone();
    assert_eq!(support["with"]["responses"], 55);
    assert!(
        wide["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|driver| driver["ranked"] == true)
    );
    for bad in [
        "window_days=0",
        "window_days=366",
        "min_answers=-1",
        "survey=Bad%20Id",
    ] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/drivers?{bad}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }
}

/// An answer with a comment.
fn commented(score: u8, at: i64, comment: &str) -> Value {
    let mut event = response(score, at);
    event["comment"] = json!(comment);
    event
}

async fn responses_are_listed_page_by_page_with_their_journeys(app: TestApp) {
    let at = noon_days_ago(3);
    let minute = 60_000;
    let mut visits = vec![vec![
        identify("cus_42", at - 2 * minute),
        touchpoint("pricing_viewed", at - minute),
        touchpoint("support_contact", at - minute + 1),
        commented(2, at, "The 100% refund_policy is a LIE"),
        touchpoint("after_the_answer", at + minute),
    ]];
    for i in 0..7 {
        visits.push(vec![commented(9, at - DAY - i * minute, "Fast delivery")]);
    }
    visits.push(vec![
        touchpoint("old_visit", at - 40 * DAY),
        response(7, at - 2 * DAY),
    ]);
    app.store_visits(visits).await;
    let path = |query: &str| format!("/v1/sites/{}/responses?{query}", app.site);

    let page: Value = app
        .get_with_key(&path("limit=3"))
        .await
        .json()
        .await
        .unwrap();
    let answers = page["responses"].as_array().unwrap();
    assert_eq!(answers.len(), 3);
    let newest = &answers[0];
    assert_eq!(newest["score"], 2);
    assert_eq!(newest["category"], "detractor");
    assert_eq!(newest["customer"], "cus_42");
    assert_eq!(newest["survey"], "nps");
    let journey: Vec<&str> = newest["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        journey,
        ["pricing_viewed", "support_contact"],
        "oldest first, nothing after the answer"
    );
    assert!(newest["at"].as_str().unwrap().ends_with('Z'));

    // Following the cursor visits every answer once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("limit=3&cursor={cursor}"),
            None => "limit=3".to_owned(),
        };
        let page: Value = app.get_with_key(&path(&query)).await.json().await.unwrap();
        for answer in page["responses"].as_array().unwrap() {
            seen.push((
                answer["at"].as_str().unwrap().to_owned(),
                answer["id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen.len(), sorted.len(), "no answer twice");

    // Filters.
    let count = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let page: Value = app.get_with_key(&path(&query)).await.json().await.unwrap();
            page["responses"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("category=promoter").await, 7);
    assert_eq!(count("category=passive").await, 1);
    assert_eq!(count("category=detractor&max_score=1").await, 0);
    assert_eq!(count("min_score=2&max_score=7").await, 2);
    assert_eq!(count("contains=lie").await, 1, "case-insensitive");
    assert_eq!(count("contains=100%25").await, 1, "a literal %");
    assert_eq!(count("contains=_policy").await, 1, "a literal _");
    assert_eq!(count("contains=%25%25").await, 0);
    assert_eq!(count("contains=x_y").await, 0, "_ is not a wildcard");
    assert_eq!(count("survey=checkout").await, 0);
    assert_eq!(count(&format!("from={}", date_of(at))).await, 1);
    for bad in [
        "category=fan",
        "min_score=11",
        "limit=0",
        "limit=501",
        "cursor=nonsense",
        "window_days=0",
        &format!("contains={}", "x".repeat(201)),
    ] {
        let response = app.get_with_key(&path(bad)).await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }
    let anonymous = app.get_as(&path(""), None).await;
    assert_eq!(error_code(anonymous, 401).await, "unauthorized");
}

async fn the_csv_export_holds_every_answer_quoted_and_defused(app: TestApp) {
    let at = noon_days_ago(3);
    let mut visits: Vec<Vec<Value>> = (0..1203)
        .map(|i| {
            vec![
                touchpoint("pricing_viewed", at - i - 1),
                response((i % 11) as u8, at - i),
            ]
        })
        .collect();
    visits.push(vec![commented(
        0,
        at + 1,
        "=HYPERLINK(\"http://evil.example\"), \"quoted\"\nand a new line",
    )]);
    app.store_visits(visits).await;
    let response = app
        .get_with_key(&format!("/v1/sites/{}/responses.csv", app.site))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "answered_at",
            "score",
            "category",
            "comment",
            "survey",
            "language",
            "device",
            "customer",
            "visitor",
            "touchpoints"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1204, "every page, the last one partial");
    assert_eq!(
        &records[0][4],
        "'=HYPERLINK(\"http://evil.example\"), \"quoted\"\nand a new line"
    );
    assert_eq!(&records[0][3], "detractor");
    assert_eq!(&records[1][10], "pricing_viewed");
    let ids: std::collections::HashSet<&str> = records
        .iter()
        .map(|record| record.get(0).unwrap())
        .collect();
    assert_eq!(ids.len(), 1204, "no answer twice across pages");
    let filtered = app
        .get_with_key(&format!(
            "/v1/sites/{}/responses.csv?category=promoter",
            app.site
        ))
        .await
        .text()
        .await
        .unwrap();
    // Scores 9 and 10 among i % 11 for i below 1,203: 109 full rounds of two.
    assert_eq!(filtered.lines().count(), 1 + 218);
}

async fn segments_group_answers_by_context_source_and_trait(app: TestApp) {
    let at = noon_days_ago(3);
    let page = |url: &str, at: i64| {
        let mut event = touchpoint("page_view", at);
        event["url"] = json!(url);
        event
    };
    let answer = |score: u8, at: i64, device: &str, language: &str, survey: &str| {
        let mut event = response(score, at);
        event["device"] = json!(device);
        event["language"] = json!(language);
        event["survey"] = json!(survey);
        event
    };
    let mut landing = page("https://shop.example/", at - 3000);
    landing["referrer"] = json!("https://www.google.com/search?q=x");
    landing["utm"] = json!({ "source": "newsletter", "campaign": "autumn" });
    let mut old_landing = page("https://shop.example/", at - 40 * DAY);
    old_landing["utm"] = json!({ "source": "newsletter" });
    let mut bare = response(9, at);
    bare.as_object_mut().unwrap().remove("survey");
    app.store_visits(vec![
        vec![
            landing,
            identify("cus_1", at - 2000),
            page("https://shop.example/pricing", at - 1000),
            touchpoint("pricing_viewed", at - 900),
            answer(10, at, "mobile", "fr", "nps"),
        ],
        vec![
            page("https://shop.example/support", at - 1000),
            touchpoint("support_contact", at - 900),
            touchpoint("support_contact", at - 800),
            answer(2, at, "desktop", "en", "nps"),
        ],
        vec![
            old_landing,
            touchpoint("support_contact", at - 40 * DAY + 1000),
            bare,
        ],
        vec![answer(8, at, "mobile", "en", "checkout")],
    ])
    .await;
    // A second customer with another plan, identified after the first.
    app.store_visits(vec![vec![
        json!({ "type": "identify", "id": event_id(), "at": at - 500, "customer": "cus_2", "traits": { "plan": "free" } }),
        answer(0, at, "tablet", "de", "nps"),
    ]])
    .await;
    let segments = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let response = app
                .get_with_key(&format!("/v1/sites/{}/segments?{query}", app.site))
                .await;
            assert_eq!(response.status(), 200, "{query}");
            let report: Value = response.json().await.unwrap();
            report["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    (
                        row["value"].as_str().map(str::to_owned),
                        row["responses"].as_u64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let named = |rows: &[(&str, u64)]| -> Vec<(Option<String>, u64)> {
        rows.iter()
            .map(|(value, count)| (Some((*value).to_owned()), *count))
            .collect()
    };
    assert_eq!(
        segments("by=device").await,
        [
            (Some("mobile".into()), 2),
            (None, 1),
            (Some("desktop".into()), 1),
            (Some("tablet".into()), 1)
        ]
    );
    assert_eq!(
        segments("by=survey").await,
        named(&[("nps", 4), ("checkout", 1)])
    );
    assert_eq!(
        segments("by=language").await,
        [
            (Some("en".into()), 2),
            (None, 1),
            (Some("de".into()), 1),
            (Some("fr".into()), 1)
        ]
    );
    assert_eq!(
        segments("by=page").await,
        [
            (None, 3),
            (Some("https://shop.example/pricing".into()), 1),
            (Some("https://shop.example/support".into()), 1)
        ],
        "the last page before the answer"
    );
    assert_eq!(
        segments("by=touchpoint").await,
        named(&[("pricing_viewed", 1), ("support_contact", 1)]),
        "each respondent once per touchpoint reached within 30 days"
    );
    assert_eq!(
        segments("by=touchpoint&window_days=60").await,
        named(&[("support_contact", 2), ("pricing_viewed", 1)])
    );
    assert_eq!(
        segments("by=utm_source").await,
        [(None, 4), (Some("newsletter".into()), 1)]
    );
    assert_eq!(
        segments("by=utm_source&window_days=60").await,
        [(None, 3), (Some("newsletter".into()), 2)]
    );
    assert_eq!(
        segments("by=utm_campaign").await,
        [(None, 4), (Some("autumn".into()), 1)]
    );
    assert_eq!(
        segments("by=referrer").await,
        [(None, 4), (Some("https://www.google.com/search".into()), 1)]
    );
    assert_eq!(
        segments("by=trait.plan").await,
        [(None, 3), (Some("free".into()), 1), (Some("pro".into()), 1)]
    );
    assert_eq!(segments("by=trait.seats").await, [(None, 5)]);
    assert_eq!(
        segments("by=device&survey=checkout").await,
        named(&[("mobile", 1)])
    );
    let report: Value = app
        .get_with_key(&format!("/v1/sites/{}/segments?by=trait.plan", app.site))
        .await
        .json()
        .await
        .unwrap();
    let pro = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["value"] == "pro")
        .unwrap();
    assert_eq!(
        (pro["nps"].as_f64(), pro["small_sample"].as_bool()),
        (Some(100.0), Some(true))
    );
    for bad in [
        "",
        "by=colour",
        "by=trait.Plan",
        "by=trait.",
        "by=device&window_days=0",
    ] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/segments?{bad}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }
}

async fn paths_show_the_commonest_journeys_to_each_kind_of_answer(app: TestApp) {
    let at = noon_days_ago(3);
    let journey = |names: &[&str], score: u8| -> Vec<Value> {
        let mut events: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, name)| touchpoint(name, at - 10_000 + i as i64))
            .collect();
        events.push(touchpoint("page_view", at - 1));
        events.push(response(score, at));
        events
    };
    let mut visits = Vec::new();
    for _ in 0..6 {
        visits.push(journey(
            &["pricing_viewed", "add_to_cart", "checkout_completed"],
            10,
        ));
    }
    for _ in 0..3 {
        // Five steps with a repeat: the last three distinct-in-a-row steps are the path.
        visits.push(journey(
            &[
                "blog_read",
                "pricing_viewed",
                "pricing_viewed",
                "add_to_cart",
                "checkout_completed",
            ],
            9,
        ));
    }
    for _ in 0..4 {
        visits.push(journey(&["add_to_cart", "support_contact"], 2));
    }
    visits.push(journey(&[], 0));
    app.store_visits(visits).await;

    let report: Value = app
        .get_with_key(&format!("/v1/sites/{}/paths", app.site))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["length"], 3);
    assert_eq!(report["partial"], false);
    let promoter = report["promoter"].as_array().unwrap();
    assert_eq!(promoter.len(), 1, "{promoter:?}");
    assert_eq!(
        promoter[0]["steps"],
        json!(["pricing_viewed", "add_to_cart", "checkout_completed"])
    );
    assert_eq!(promoter[0]["answers"], 9);
    assert_eq!(promoter[0]["share"], 1.0);
    let detractor = report["detractor"].as_array().unwrap();
    assert_eq!(
        detractor[0]["steps"],
        json!(["add_to_cart", "support_contact"])
    );
    assert_eq!(detractor[0]["answers"], 4);
    assert_eq!(detractor[1]["steps"], json!([]), "no named touchpoint");
    assert_eq!(detractor[1]["answers"], 1);
    assert!((detractor[0]["share"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(report["passive"], json!([]));

    let longer: Value = app
        .get_with_key(&format!("/v1/sites/{}/paths?length=4&top=1", app.site))
        .await
        .json()
        .await
        .unwrap();
    let promoter = longer["promoter"].as_array().unwrap();
    assert_eq!(promoter.len(), 1);
    assert_eq!(promoter[0]["answers"], 6);
    for bad in ["length=0", "length=6", "top=0", "window_days=400"] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/paths?{bad}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }
}

async fn accounts_make_one_voice_each_and_the_ones_at_risk_come_first(app: TestApp) {
    let at = noon_days_ago(3);
    let member = |customer: &str, account: &str, seats: Option<&str>, at: i64| {
        let mut traits = json!({ "account": account, "company": account });
        if let Some(seats) = seats {
            traits["seats"] = json!(seats);
        }
        json!({ "type": "identify", "id": event_id(), "at": at, "customer": customer, "traits": traits })
    };
    app.store_visits(vec![
        // Acme (200 seats): Ann changed her mind from 2 to 10; Bob says 8: mean 9, promoter.
        vec![
            member("ann", "acme", Some("200"), at - 5000),
            response(2, at - 4000),
            response(10, at),
        ],
        vec![
            member("bob", "acme", Some("200"), at - 3000),
            response(8, at),
        ],
        // Globex (50 seats): two detractors, mean 4.
        vec![
            member("cat", "globex", Some("50"), at - 3000),
            response(3, at),
        ],
        vec![
            member("dan", "globex", Some("50"), at - 3000),
            response(5, at - 100),
        ],
        // Initech: no seat count, a passive.
        vec![member("eve", "initech", None, at - 3000), response(7, at)],
        // Someone anonymous, and a customer of no account.
        vec![response(0, at)],
        vec![identify_without_account("fay", at - 1000), response(10, at)],
    ])
    .await;
    let report = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let response = app
                .get_with_key(&format!("/v1/sites/{}/nps/accounts?{query}", app.site))
                .await;
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };
    let plain = report("").await;
    assert_eq!(plain["account_trait"], "account");
    assert_eq!(plain["weight_trait"], Value::Null);
    assert_eq!(plain["answers_without_account"], 2);
    assert_eq!(plain["total_accounts"], 3);
    let rows: Vec<(&str, u64, f64, &str)> = plain["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["account"].as_str().unwrap(),
                row["respondents"].as_u64().unwrap(),
                row["mean_score"].as_f64().unwrap(),
                row["category"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("globex", 2, 4.0, "detractor"),
            ("initech", 1, 7.0, "passive"),
            ("acme", 2, 9.0, "promoter"),
        ],
        "at risk first; each person once, by their latest answer"
    );
    let summary = &plain["summary"];
    assert_eq!(summary["accounts"], 3);
    assert_eq!(
        (
            summary["promoter_accounts"].as_u64(),
            summary["detractor_accounts"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        summary["nps"].as_f64().unwrap().abs() < 1e-9,
        "one promoter, one detractor"
    );
    assert_eq!(summary["small_sample"], true);

    let by_seats = report("weight=seats").await;
    let summary = &by_seats["summary"];
    assert_eq!(by_seats["weight_trait"], "seats");
    assert_eq!(summary["accounts"], 2);
    assert_eq!(
        summary["accounts_without_weight"], 1,
        "initech has no seat count"
    );
    assert_eq!(summary["promoter_weight"], 200.0);
    assert_eq!(summary["detractor_weight"], 50.0);
    // (200 − 50) / 250 = 60.
    assert!((summary["nps"].as_f64().unwrap() - 60.0).abs() < 1e-9);
    assert_eq!(by_seats["accounts"][0]["account"], "globex");
    assert_eq!(by_seats["accounts"][0]["weight"], 50.0);

    let by_company = report("account=company&limit=1").await;
    assert_eq!(by_company["total_accounts"], 3);
    assert_eq!(by_company["accounts"].as_array().unwrap().len(), 1);
    let earlier = report(&format!(
        "to={}",
        jiff::Timestamp::from_millisecond(at - 1000).unwrap()
    ))
    .await;
    assert_eq!(
        earlier["accounts"][0]["mean_score"], 2.0,
        "Ann's answer before she changed her mind"
    );

    for bad in [
        "account=",
        "account=Bad%20Name",
        "weight=%27%3B%20DROP",
        "limit=0",
        "limit=1001",
        "limit=lots",
        "from=yesterday",
    ] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/nps/accounts?{bad}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }
    let unkeyed = app
        .get_as(&format!("/v1/sites/{}/nps/accounts", app.site), None)
        .await;
    assert_eq!(error_code(unkeyed, 401).await, "unauthorized");
}

/// An identify that names no account.
fn identify_without_account(customer: &str, at: i64) -> Value {
    json!({ "type": "identify", "id": event_id(), "at": at, "customer": customer, "traits": { "plan": "free" } })
}
