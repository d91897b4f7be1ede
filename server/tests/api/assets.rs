//! The built widget's files under their content-hashed path: both modules (the core, loaded on
//! every page, and the survey UI, loaded when a survey is shown) are served under the hash the
//! loader names, immutable, and nothing else is.

use crate::helpers::*;
use crate::on_every_backend;
use regex::Regex;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use std::io::Read;

on_every_backend!(
    spawn = crate::helpers::TestApp::spawn_with_widget;
    both_modules_are_served_under_the_loaders_hash,
    other_files_and_other_hashes_are_not_found,
    an_older_hash_is_sent_to_the_current_files,
    files_go_out_compressed_to_browsers_that_accept_it,
);

/// The hash in the loader's widget path, e.g. `3f2a9c0d1e4b5a6c`.
async fn widget_hash(app: &TestApp) -> String {
    let loader = app.get_as("/touchstone.js", None).await;
    assert_eq!(loader.status(), 200);
    let loader = loader.text().await.unwrap();
    Regex::new("/widget/([0-9a-f]{16})")
        .unwrap()
        .captures(&loader)
        .expect("the loader names the widget's path")[1]
        .to_owned()
}

async fn both_modules_are_served_under_the_loaders_hash(app: TestApp) {
    let hash = widget_hash(&app).await;
    let loader = app
        .get_as("/touchstone.js", None)
        .await
        .text()
        .await
        .unwrap();
    for (file, content_type) in [
        ("touchstone_widget.js", "text/javascript; charset=utf-8"),
        ("touchstone_widget_bg.wasm", "application/wasm"),
        ("touchstone_survey.js", "text/javascript; charset=utf-8"),
        ("touchstone_survey_bg.wasm", "application/wasm"),
    ] {
        // The loader names every file it imports or hands to a glue.
        assert!(
            loader.contains(&format!("/{file}'")),
            "{file} in the loader"
        );
        let response = app.get_as(&format!("/widget/{hash}/{file}"), None).await;
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(response.headers()[CONTENT_TYPE], content_type, "{file}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{file}"
        );
        assert_eq!(response.text().await.unwrap(), "stand-in", "{file}");
    }
}

async fn other_files_and_other_hashes_are_not_found(app: TestApp) {
    let hash = widget_hash(&app).await;
    for path in [
        format!("/widget/{hash}/touchstone_survey.wasm"),
        format!("/widget/{hash}/loader.js"),
        format!("/widget/{hash}/..%2Ftouchstone_widget.js"),
        format!("/widget/{hash}/{}", "a".repeat(5000)),
        "/widget/0123456789abcdef/loader.js".to_owned(),
        format!("/widget/{}/touchstone_survey.js", hash.to_uppercase()),
        "/widget/0123456789abcdeg/touchstone_survey.js".to_owned(),
        "/widget/0123456789abcdef0/touchstone_survey.js".to_owned(),
        "/widget/..%2F..%2Fetc/touchstone_survey.js".to_owned(),
    ] {
        assert_eq!(
            error_code(app.get_as(&path, None).await, 404).await,
            "not_found",
            "{path}"
        );
    }
}

/// A page that kept a loader from before the widget changed (browsers keep it five minutes) names
/// an older hash: each file is redirected, uncached, to the same file under the current hash.
async fn an_older_hash_is_sent_to_the_current_files(app: TestApp) {
    let hash = widget_hash(&app).await;
    install_tls_provider();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for file in [
        "touchstone_widget.js",
        "touchstone_widget_bg.wasm",
        "touchstone_survey.js",
        "touchstone_survey_bg.wasm",
    ] {
        let old = format!("{}/widget/0123456789abcdef/{file}", app.address);
        let response = no_redirects.get(&old).send().await.unwrap();
        assert_eq!(response.status(), 307, "{file}");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache", "{file}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(location, format!("../{hash}/{file}"));
        let followed = app.client.get(&old).send().await.unwrap();
        assert_eq!(followed.status(), 200, "{file}");
        assert_eq!(
            followed.url().path(),
            format!("/widget/{hash}/{file}"),
            "{file}"
        );
        assert_eq!(followed.text().await.unwrap(), "stand-in", "{file}");
    }
}

/// The loader (compressed by the collector) and the widget's files (compressed by the build) go
/// out as brotli or gzip to browsers that accept them, as they are to the rest, and say so.
async fn files_go_out_compressed_to_browsers_that_accept_it(app: TestApp) {
    let hash = widget_hash(&app).await;
    let loader = app.get_as("/touchstone.js", None).await;
    assert!(loader.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(loader.headers()[VARY], "Accept-Encoding");
    let loader = loader.bytes().await.unwrap();
    let widget_file = format!("/widget/{hash}/touchstone_widget_bg.wasm");
    // The stand-in widget has a brotli file beside each file and no gzip one, so a browser that
    // prefers gzip but takes brotli gets brotli.
    for (path, raw, preferring_gzip) in [
        ("/touchstone.js", &loader[..], "gzip"),
        (widget_file.as_str(), &b"stand-in"[..], "br"),
    ] {
        for (accept, expected) in [
            ("gzip, deflate, br, zstd", Some("br")),
            ("br;q=0.1, gzip", Some(preferring_gzip)),
            ("identity", None),
        ] {
            let response = app
                .client
                .get(format!("{}{path}", app.address))
                .header(ACCEPT_ENCODING, accept)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path} {accept}");
            assert_eq!(response.headers()[VARY], "Accept-Encoding");
            let encoding = response
                .headers()
                .get(CONTENT_ENCODING)
                .map(|value| value.to_str().unwrap().to_owned());
            let body = response.bytes().await.unwrap();
            let mut decoded = Vec::new();
            match expected {
                Some("br") => {
                    brotli::BrotliDecompress(&mut &body[..], &mut decoded).unwrap();
                }
                Some(_) => {
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                None => decoded = body.to_vec(),
            }
            assert_eq!(encoding.as_deref(), expected, "{path} {accept}");
            assert_eq!(decoded, raw, "{path} {accept}");
        }
    }
}
