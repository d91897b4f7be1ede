//! The widget's only door to the network: posting a [`CollectRequest`] to the collector.
//!
//! The body is the request as JSON, sent as `text/plain` so the browser needs no CORS
//! preflight; credentials are never sent (the collector wants no cookies), and `keepalive` lets
//! an answer given just before the visitor leaves still arrive. Any 2xx status means stored.
//!
//! The JSON is made by `serde_json`. Measured with `cargo xtask build-widget`, it came out
//! slightly smaller than `serde-wasm-bindgen` + `JSON.stringify` (wasm 63.7 KB against 64.2 KB
//! brotli, glue 6.1 KB against 6.2 KB): a serializer for one known type is little code, while
//! building a JS object field by field needs many JS imports.

use touchstone_shared::wire::CollectRequest;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, RequestMode, Response};

/// The collector's path for collect requests, below the API origin.
pub const COLLECT_PATH: &str = "/v1/collect";

/// Why a request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request could not be turned into JSON.
    #[error("encoding the request failed")]
    Encode,
    /// The browser could not reach the collector (offline, blocked, CORS).
    #[error("the collector could not be reached")]
    Network,
    /// The collector answered, but not with success.
    #[error("the collector answered with status {0}")]
    Status(u16),
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
            collect_url: format!("{}{COLLECT_PATH}", origin.trim_end_matches('/')),
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
