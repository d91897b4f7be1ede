//! The widget's only door to the network: posting a [`CollectRequest`] to the collector.
//!
//! The body is the request as JSON, sent as `text/plain` so the browser needs no CORS
//! preflight; credentials are never sent (the collector wants no cookies), and `keepalive` lets
//! an answer given just before the visitor leaves still arrive. Any 2xx status means stored.
//!
//! The JSON is made by `serde_json` from the wire types' own `Serialize` impls, so
//! `touchstone-shared` stays the one definition of the format. Measured with
//! `cargo xtask build-widget` (brotli, once the widget's own formatting was gone), it is the
//! smaller route: wasm 63.6 KB and glue 6.1 KB, against 64.9 KB and 6.3 KB for
//! `serde-wasm-bindgen` + `JSON.stringify`, which builds the JS object field by field through
//! interned-string caches and more JS imports. Reading the collector's JSON later is
//! `serde_json::from_str` for the same reason; re-measure if that changes the balance.

use touchstone_shared::wire::CollectRequest;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, RequestMode, Response};

/// The collector's path for collect requests, below the API origin.
pub const COLLECT_PATH: &str = "/v1/collect";

/// Why a request was not stored.
///
/// Not a `thiserror` error: its `Display` impl would pull formatting code into the wasm;
/// [`SendError::message`] joins plain strings instead (see the size rules in the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The request could not be turned into JSON.
    Encode,
    /// The browser could not reach the collector (offline, blocked, CORS).
    Network,
    /// The collector answered, but not with success.
    Status(u16),
}

impl SendError {
    /// What went wrong, for the console.
    pub fn message(self) -> String {
        match self {
            SendError::Encode => "encoding the request failed".into(),
            SendError::Network => "the collector could not be reached".into(),
            SendError::Status(status) => {
                let mut text = String::from("the collector answered with status ");
                push_number(&mut text, status);
                text
            }
        }
    }
}

/// Appends `number` in decimal: an HTTP status needs no `core::fmt`.
fn push_number(text: &mut String, number: u16) {
    if number >= 10 {
        push_number(text, number / 10);
    }
    text.push(char::from(b'0' + (number % 10) as u8));
}

/// Where the collector lives: an origin such as `https://collector.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    collect_url: String,
}

impl Api {
    /// The collector at `origin`; a trailing `/` is ignored.
    pub fn new(origin: &str) -> Self {
        Api {
            collect_url: [origin.trim_end_matches('/'), COLLECT_PATH].concat(),
        }
    }

    /// The full address collect requests go to.
    pub fn collect_url(&self) -> &str {
        &self.collect_url
    }

    /// Posts `request` and resolves once the collector has answered.
    pub async fn send(&self, request: &CollectRequest) -> Result<(), SendError> {
        let body = encode(request)?;
        let window = web_sys::window().ok_or(SendError::Network)?;
        let fetch = Request::new_with_str_and_init(&self.collect_url, &init(&body)?)
            .map(|request| window.fetch_with_request(&request))
            .map_err(|_| SendError::Network)?;
        let response: Response = JsFuture::from(fetch)
            .await
            .map_err(|_| SendError::Network)?
            .dyn_into()
            .map_err(|_| SendError::Network)?;
        if response.ok() {
            Ok(())
        } else {
            Err(SendError::Status(response.status()))
        }
    }
}

/// The request as JSON text.
pub fn encode(request: &CollectRequest) -> Result<String, SendError> {
    serde_json::to_string(request).map_err(|_| SendError::Encode)
}

fn init(body: &str) -> Result<RequestInit, SendError> {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    init.set_body(&JsValue::from_str(body));
    let headers = js_sys::Object::new();
    // web-sys has no setter for `keepalive`; the fetch dictionary is a plain object.
    let set = |target: &js_sys::Object, key: &str, value: &JsValue| {
        js_sys::Reflect::set(target, &JsValue::from_str(key), value).map_err(|_| SendError::Encode)
    };
    set(&headers, "content-type", &JsValue::from_str("text/plain"))?;
    init.set_headers(&headers);
    set(&init, "keepalive", &JsValue::TRUE)?;
    Ok(init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_written_in_decimal() {
        assert_eq!(
            SendError::Status(503).message(),
            "the collector answered with status 503"
        );
        assert_eq!(
            SendError::Status(0).message(),
            "the collector answered with status 0"
        );
    }

    #[test]
    fn the_collect_url_ignores_a_trailing_slash() {
        assert_eq!(
            Api::new("https://c.example/").collect_url(),
            "https://c.example/v1/collect"
        );
        assert_eq!(
            Api::new("http://127.0.0.1:8080").collect_url(),
            "http://127.0.0.1:8080/v1/collect"
        );
    }
}
