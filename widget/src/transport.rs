//! The widget's only door to the network: posting collect requests, sending them as beacons
//! when the page goes away, and reading the site's survey configuration.
//!
//! Bodies are sent as `text/plain` so the browser needs no CORS preflight and `sendBeacon`
//! can carry them; credentials are never sent (the collector wants no cookies), and
//! `keepalive` lets a request started just before the visitor leaves still arrive. What to do
//! with the collector's answer is [`Outcome`]: stored, refused for good, or try again later.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, RequestMode, Response};

/// The collector's path for collect requests, below the API origin.
pub const COLLECT_PATH: &str = "/v1/collect";

/// What became of a collect request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: the collector committed the events.
    Stored,
    /// A 400 or 413: the collector will never take this batch, so sending it again would only
    /// block the events behind it.
    Refused,
    /// Anything else (offline, 429, 5xx, an unknown site or origin that an owner may still
    /// fix): try again later, not before the `Retry-After` milliseconds if the collector said.
    Later(Option<i64>),
}

/// Where the collector lives: an origin such as `https://collector.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    origin: String,
    collect_url: String,
}

impl Api {
    /// The collector at `origin`; a trailing `/` is ignored.
    pub fn new(origin: &str) -> Self {
        let origin = origin.trim_end_matches('/');
        Api {
            origin: origin.to_owned(),
            collect_url: [origin, COLLECT_PATH].concat(),
        }
    }

    /// The full address collect requests go to.
    pub fn collect_url(&self) -> &str {
        &self.collect_url
    }

    /// The address of `site`'s survey configuration.
    pub fn surveys_url(&self, site: &str) -> String {
        [self.origin.as_str(), "/v1/sites/", site, "/surveys"].concat()
    }
}

/// Posts a collect request body and says what became of it.
pub async fn post(url: &str, body: &str) -> Outcome {
    let Some(response) = fetch(url, Some(body)).await else {
        return Outcome::Later(None);
    };
    match response.status() {
        200..=299 => Outcome::Stored,
        400 | 413 => Outcome::Refused,
        _ => Outcome::Later(retry_after(&response)),
    }
}

/// Hands a collect request body to the browser to deliver even as the page unloads; `false`
/// when the browser declined (too large, or no `sendBeacon`).
pub fn beacon(url: &str, body: &str) -> bool {
    web_sys::window()
        .and_then(|window| {
            window
                .navigator()
                .send_beacon_with_opt_str(url, Some(body))
                .ok()
        })
        .unwrap_or(false)
}

/// Reads a JSON document as text (`None` on any failure). The browser's HTTP cache applies, so
/// the collector's `max-age` and `ETag` spare most page views the download.
pub async fn get_text(url: &str) -> Option<String> {
    let response = fetch(url, None).await.filter(Response::ok)?;
    let text = JsFuture::from(response.text().ok()?).await.ok()?;
    text.as_string()
}

async fn fetch(url: &str, body: Option<&str>) -> Option<Response> {
    let window = web_sys::window()?;
    let init = RequestInit::new();
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&JsValue::from_str(body));
        let headers = js_sys::Object::new();
        js_sys::Reflect::set(&headers, &"content-type".into(), &"text/plain".into()).ok()?;
        init.set_headers(&headers);
        // web-sys has no setter for `keepalive`; the fetch dictionary is a plain object.
        js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE).ok()?;
    }
    let request = Request::new_with_str_and_init(url, &init).ok()?;
    JsFuture::from(window.fetch_with_request(&request))
        .await
        .ok()?
        .dyn_into()
        .ok()
}

/// The `Retry-After` header in milliseconds, when it is a number of seconds (the collector
/// never sends a date).
fn retry_after(response: &Response) -> Option<i64> {
    let text = response.headers().get("retry-after").ok()??;
    let seconds = crate::session::parse_int(text.trim())?;
    Some(seconds.saturating_mul(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urls_ignore_a_trailing_slash() {
        let api = Api::new("https://c.example/");
        assert_eq!(api.collect_url(), "https://c.example/v1/collect");
        assert_eq!(
            api.surveys_url("demo"),
            "https://c.example/v1/sites/demo/surveys"
        );
        assert_eq!(
            Api::new("http://127.0.0.1:8080").collect_url(),
            "http://127.0.0.1:8080/v1/collect"
        );
    }
}
